import CZeroMQ

/// The job's shared secret when CURVE is off: every control and data-plane connection proves it in ZeroMQ's
/// PLAIN handshake, checked by the server's ZAP handler, so a process that merely reaches a port can't register,
/// read the job or inject frames. PLAIN sends it in clear text: it keeps strangers out, not eavesdroppers; CURVE
/// (`cluster.security.curve`) is for networks that others can read.
public struct JobToken: Sendable, Equatable, CustomStringConvertible {
    public let value: String

    /// The name ZeroMQ's PLAIN handshake carries beside the token (the ZAP handler checks the token only).
    static let plainUser = "cohort"
    static let minimumLength = 16
    static let maximumLength = 255  // ZMQ_PLAIN_PASSWORD's limit

    /// A token read from a file or the environment: printable ASCII without spaces, 16–255 characters.
    public init(_ value: String) throws {
        guard (Self.minimumLength...Self.maximumLength).contains(value.utf8.count),
            value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw TransportError.invalidArgument(
                "a job token is \(Self.minimumLength)–\(Self.maximumLength) printable characters without spaces")
        }
        self.value = value
    }

    /// 32 random bytes from the system's generator (getrandom), in hex.
    public static func generate() -> JobToken {
        var rng = SystemRandomNumberGenerator()
        let hex = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }.map { b in
            String(b >> 4, radix: 16) + String(b & 0xF, radix: 16)
        }.joined()
        // 64 hex characters always satisfy init's rules.
        return JobToken(unchecked: hex)
    }

    private init(unchecked value: String) { self.value = value }

    /// Compares in time independent of where the bytes differ (no timing oracle for guessing the token).
    public func matches(_ bytes: [UInt8]) -> Bool {
        let mine = Array(value.utf8)
        guard mine.count == bytes.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<mine.count { diff |= mine[i] ^ bytes[i] }
        return diff == 0
    }

    /// Never the secret itself: a token can end up in a log line.
    public var description: String { "(job token)" }
}

extension Socket {
    /// Makes this socket a PLAIN server whose clients must present the job token (call before bind; needs a
    /// `CurveAuthenticator` with that token on the socket's context).
    public func makeTokenServer() throws {
        try setOption(ZMQ_PLAIN_SERVER, 1)
        try setOption(ZMQ_ZAP_DOMAIN, string: CurveAuthenticator.domain)
    }

    /// Makes this socket present the job token to a token server (call before connect).
    public func makeTokenClient(_ token: JobToken) throws {
        try setOption(ZMQ_PLAIN_USERNAME, string: JobToken.plainUser)
        try setOption(ZMQ_PLAIN_PASSWORD, string: token.value)
    }
}
