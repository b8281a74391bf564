/// How a cluster's sockets prove who they are: the cluster's CURVE key pair (authenticated and encrypted), or
/// the job's token (authenticated only, in the PLAIN handshake). Every server socket gets a ZAP handler
/// (`CurveAuthenticator`) that admits only that proof, so a peer that merely reaches a port is refused.
public enum PeerSecurity: Sendable, Equatable {
    case curve(CurveSecurity)
    case token(JobToken)

    public init?(curve: CurveSecurity?, token: JobToken?) {
        if let curve {
            self = .curve(curve)
        } else if let token {
            self = .token(token)
        } else {
            return nil
        }
    }

    public var curve: CurveSecurity? {
        if case .curve(let c) = self { return c }
        return nil
    }

    public var token: JobToken? {
        if case .token(let t) = self { return t }
        return nil
    }
}

extension CurveAuthenticator {
    /// The handler that admits exactly `security`'s proof on `context`.
    public convenience init(
        context: Context, security: PeerSecurity,
        onRefusal: @escaping @Sendable (_ address: String, _ why: String) -> Void = { _, _ in }
    ) throws {
        switch security {
        case .curve(let c): try self.init(context: context, allowedKeys: [c.cluster.publicKey], onRefusal: onRefusal)
        case .token(let t): try self.init(context: context, allowedKeys: [], token: t, onRefusal: onRefusal)
        }
    }
}

extension Socket {
    /// Makes this socket a server that admits only `security`'s proof (call before bind, with the context's
    /// `CurveAuthenticator` installed).
    public func makeServer(_ security: PeerSecurity) throws {
        switch security {
        case .curve(let c): try makeCurveServer(c)
        case .token: try makeTokenServer()
        }
    }

    /// Makes this socket present `security`'s proof (call before connect).
    public func makeClient(_ security: PeerSecurity) throws {
        switch security {
        case .curve(let c): try makeCurveClient(c)
        case .token(let t): try makeTokenClient(t)
        }
    }
}
