import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 client over a POSIX socket, for tests of the status endpoint: plain requests, and the
/// misbehaving clients a server must survive (garbage bytes, a request sent a byte at a time). Every call has a
/// deadline; nothing here can hang a test.
public final class HTTPProbe {
    public struct Response {
        public var status: Int
        public var headers: [String: String]
        public var body: String
    }

    private let fd: Int32

    /// Connects to 127.0.0.1:`port` (or `host`), with `timeout` seconds on every read and write.
    public init(host: String = "127.0.0.1", port: Int, timeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw TestFailure("cannot connect to \(host):\(port): errno \(errno)")
        }
    }

    deinit { Glibc.close(fd) }

    /// Writes raw bytes; false when the peer has closed.
    @discardableResult
    public func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Reads until the peer closes, `Content-Length` bytes of body arrived, or the timeout.
    public func readResponse() -> Response? {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data += buffer[0..<n]
            if let r = Self.parse(data), r.complete { return r.response }
        }
        return Self.parse(data)?.response
    }

    static func parse(_ data: [UInt8]) -> (response: Response, complete: Bool)? {
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = String(text[split.upperBound...])
        let length = headers["content-length"].flatMap(Int.init)
        let complete = length.map { body.utf8.count >= $0 } ?? false
        return (Response(status: status, headers: headers, body: body), complete)
    }

    /// One GET on a fresh connection.
    public static func get(
        port: Int, _ path: String, headers: [String: String] = [:], timeout: Double = 5
    ) throws -> Response {
        let probe = try HTTPProbe(port: port, timeout: timeout)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { request += "\(k): \(v)\r\n" }
        probe.send(request + "\r\n")
        guard let r = probe.readResponse() else { throw TestFailure("no HTTP response to GET \(path) on port \(port)") }
        return r
    }
}
