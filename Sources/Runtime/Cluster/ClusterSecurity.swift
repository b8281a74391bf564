import Config
import Foundation
import Training
import Transport

extension ClusterConfig {
    /// The cluster's CURVE key pair when `cluster.security.curve` is on: every socket of the cluster authenticates
    /// with it, so only holders of the cluster's key file can join or talk on the data plane.
    public func curveSecurity() throws -> CurveSecurity? {
        guard let keys = try cluster.security.loadKeys() else { return nil }
        return CurveSecurity(cluster: try CurveKeyPair(publicKey: keys.publicKey, secretKey: keys.secretKey))
    }
}

/// Reads the key file `cohort keys` writes (the same file every member of the cluster holds).
public func loadCurveSecurity(keyFile path: String) throws -> CurveSecurity {
    guard let keys = try SecuritySpec(curve: true, keyFile: path).loadKeys() else {
        throw RuntimeError.invalid("\(path): no CURVE keys")
    }
    return CurveSecurity(cluster: try CurveKeyPair(publicKey: keys.publicKey, secretKey: keys.secretKey))
}

extension JobToken {
    /// Where `cohort launch` puts the token for the workers it starts on this host (the environment, which only
    /// this user and root can read in /proc, never the command line that `ps` shows everyone).
    public static let environmentVariable = "COHORT_JOB_TOKEN"

    /// Reads a token file: its first line, surrounding white space trimmed. Errors name the file.
    public static func load(file path: String) throws -> JobToken {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw RuntimeError.invalid(
                FileManager.default.fileExists(atPath: path)
                    ? "\(path): cannot read the job token file" : "\(path): no such job token file")
        }
        let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        do {
            return try JobToken(line.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw RuntimeError.invalid("\(path): \(error)")
        }
    }

    /// The token `cohort launch` passed in the environment, if any.
    public static func fromEnvironment() throws -> JobToken? {
        guard let raw = ProcessInfo.processInfo.environment[environmentVariable] else { return nil }
        do {
            return try JobToken(raw.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw RuntimeError.invalid("\(environmentVariable): \(error)")
        }
    }

    /// Writes the token to a new file at `path`, mode 0600 (an existing file or link there is replaced, never
    /// followed or written through).
    public func write(toFile path: String) throws {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RuntimeError.invalid("\(path): cannot write the job token file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        _ = fchmod(fd, 0o600)
        let bytes = Array((value + "\n").utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            unlink(path)
            throw RuntimeError.invalid("\(path): cannot write the job token file: \(String(cString: strerror(errno)))")
        }
    }
}

extension ClusterConfig {
    /// How this cluster's sockets authenticate: CURVE when `security.curve` is on; else `token` (given by the
    /// launcher or a flag), else the one in `security.token_file`; nil when there is none (the caller decides:
    /// the coordinator generates one, a worker refuses to start).
    public func peerSecurity(token: JobToken? = nil) throws -> PeerSecurity? {
        if let curve = try curveSecurity() { return .curve(curve) }
        if let token { return .token(token) }
        if let file = cluster.security.tokenFile { return .token(try JobToken.load(file: file)) }
        return nil
    }
}

/// What a tcp socket binds for `host` when the cluster names no interface: an address as it is, a name resolved
/// to its first address (libzmq binds addresses and interface names, not host names). Never all interfaces.
public func bindAddress(forHost host: String) throws -> String {
    if host == "*" || host == "localhost" { return host == "*" ? "*" : "127.0.0.1" }
    let isAddress = host.contains(":") || (host.contains(".") && host.allSatisfy { $0.isNumber || $0 == "." })
    if isAddress { return host }
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_family = AF_UNSPEC
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, nil, &hints, &list)
    guard rc == 0, let first = list else {
        throw RuntimeError.invalid(
            "cannot resolve \(host) to an address to bind (\(String(cString: gai_strerror(rc)))): pass --interface or set cluster.interface"
        )
    }
    defer { freeaddrinfo(list) }
    // Prefer IPv4, as the cluster's endpoints are written tcp://a.b.c.d:port.
    var chosen: UnsafeMutablePointer<addrinfo>? = first
    var p: UnsafeMutablePointer<addrinfo>? = first
    while let cur = p {
        if cur.pointee.ai_family == AF_INET {
            chosen = cur
            break
        }
        p = cur.pointee.ai_next
    }
    guard let info = chosen, let sa = info.pointee.ai_addr else {
        throw RuntimeError.invalid("cannot resolve \(host) to an address to bind: pass --interface or set cluster.interface")
    }
    var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    guard getnameinfo(sa, info.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 else {
        throw RuntimeError.invalid("cannot resolve \(host) to an address to bind: pass --interface or set cluster.interface")
    }
    let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    // libzmq wants brackets-free IPv6 in tcp://[addr]:port; callers write tcp://\(address):port, so bracket it.
    return address.contains(":") ? "[\(address)]" : address
}
