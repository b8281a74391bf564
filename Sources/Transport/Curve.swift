import CZeroMQ

/// A CURVE key pair in Z85 text (40 characters each), as `cohort keys` prints and cluster.yaml stores it.
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    public init(publicKey: String, secretKey: String) throws {
        guard CurveKeyPair.isValidZ85Key(publicKey) else {
            throw TransportError.invalidArgument("CURVE public key must be 40 Z85 characters")
        }
        guard CurveKeyPair.isValidZ85Key(secretKey) else {
            throw TransportError.invalidArgument("CURVE secret key must be 40 Z85 characters")
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A fresh key pair from libzmq (needs libzmq built with libsodium/tweetnacl; Debian's is).
    public static func generate() throws -> CurveKeyPair {
        var pub = [CChar](repeating: 0, count: 41)
        var sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw TransportError.last("zmq_curve_keypair", "curve") }
        let s = { (a: [CChar]) in String(decoding: a.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return try CurveKeyPair(publicKey: s(pub), secretKey: s(sec))
    }

    /// Derives the public key from a Z85 secret key.
    public static func publicKey(fromSecret secret: String) throws -> String {
        var pub = [CChar](repeating: 0, count: 41)
        guard isValidZ85Key(secret), zmq_curve_public(&pub, secret) == 0 else {
            throw TransportError.invalidArgument("not a valid Z85 CURVE secret key")
        }
        return String(decoding: pub.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static let z85Alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    public static func isValidZ85Key(_ s: String) -> Bool {
        s.utf8.count == 40 && s.utf8.allSatisfy { z85Alphabet.contains($0) }
    }
}

/// Cluster security: every node holds the cluster key pair. Binding (server) sockets prove they hold the secret;
/// connecting (client) sockets present the cluster key as their own identity, and the server's authenticator
/// (`CurveAuthenticator`, ZAP) admits only that key, so a peer without the cluster secret can neither connect nor
/// read traffic.
public struct CurveSecurity: Sendable, Equatable {
    public let cluster: CurveKeyPair
    public init(cluster: CurveKeyPair) { self.cluster = cluster }
}

extension Socket {
    /// Makes this socket a CURVE server (call before bind).
    public func makeCurveServer(_ security: CurveSecurity) throws {
        try setOption(ZMQ_CURVE_SERVER, 1)
        try setOption(ZMQ_CURVE_SECRETKEY, string: security.cluster.secretKey)
        try setOption(ZMQ_ZAP_DOMAIN, string: CurveAuthenticator.domain)
    }

    /// Makes this socket a CURVE client of a cluster server (call before connect).
    public func makeCurveClient(_ security: CurveSecurity) throws {
        try makeCurveClient(serverPublicKey: security.cluster.publicKey, clientKeys: security.cluster)
    }

    /// Makes this socket a CURVE client of the server whose public key is `serverPublicKey`, presenting
    /// `clientKeys` as its identity (the server's ZAP handler decides whether that key is admitted).
    public func makeCurveClient(serverPublicKey: String, clientKeys: CurveKeyPair) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, string: serverPublicKey)
        try setOption(ZMQ_CURVE_PUBLICKEY, string: clientKeys.publicKey)
        try setOption(ZMQ_CURVE_SECRETKEY, string: clientKeys.secretKey)
    }
}
