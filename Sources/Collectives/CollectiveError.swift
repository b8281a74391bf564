import Transport

/// Why a collective or point-to-point call failed. Every case that involves a peer names it by rank and endpoint,
/// so "which machine is dead" is answered by the message alone.
public enum CollectiveError: Error, CustomStringConvertible {
    /// The peer sent nothing (or could not take our data) before the deadline.
    case peerTimeout(operation: String, me: Int, peer: Int, endpoint: String, seconds: Double)
    /// The peer left mid-collective: its process exited, or it closed its end of a shared-memory link.
    case peerGone(operation: String, me: Int, peer: Int, endpoint: String, detail: String)
    /// The peer sent a frame this rank refuses.
    case protocolViolation(operation: String, me: Int, peer: Int?, endpoint: String, error: WireError)
    /// The transport failed while talking to the peer.
    case transport(operation: String, me: Int, peer: Int?, endpoint: String, error: TransportError)
    /// The call itself is invalid (sizes, ranks).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .peerTimeout(op, me, peer, ep, s):
            return "rank \(me): \(op): rank \(peer) (\(ep)) did not answer within \(formatSeconds(s))"
        case let .peerGone(op, me, peer, ep, detail):
            return "rank \(me): \(op): rank \(peer) (\(ep)) is gone: \(detail)"
        case let .protocolViolation(op, me, peer, ep, e):
            let who = peer.map { "rank \($0) (\(ep))" } ?? ep
            return "rank \(me): \(op): refused a frame from \(who): \(e)"
        case let .transport(op, me, peer, ep, e):
            let who = peer.map { "rank \($0) (\(ep))" } ?? ep
            return "rank \(me): \(op): transport error with \(who): \(e)"
        case let .invalidArgument(s): return s
        }
    }

    /// The rank this error blames, if any.
    public var peer: Int? {
        switch self {
        case let .peerTimeout(_, _, p, _, _): return p
        case let .peerGone(_, _, p, _, _): return p
        case let .protocolViolation(_, _, p, _, _): return p
        case let .transport(_, _, p, _, _): return p
        case .invalidArgument: return nil
        }
    }
}

func formatSeconds(_ s: Double) -> String {
    s < 1 ? "\(Int((s * 1000).rounded())) ms" : "\((s * 100).rounded() / 100) s"
}
