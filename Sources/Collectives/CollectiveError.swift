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
    /// The membership this collective belongs to has ended (`DataPlane.abortCollectives`): a peer was lost and
    /// the coordinator formed the next one. Not a fault of the peer it was waiting for.
    case aborted(operation: String, me: Int, epoch: UInt32, reason: String)

    public var description: String {
        switch self {
        case .peerTimeout(let op, let me, let peer, let ep, let s):
            return "rank \(me): \(op): rank \(peer) (\(ep)) did not answer within \(formatSeconds(s))"
        case .peerGone(let op, let me, let peer, let ep, let detail):
            return "rank \(me): \(op): rank \(peer) (\(ep)) is gone: \(detail)"
        case .protocolViolation(let op, let me, let peer, let ep, let e):
            let who = peer.map { "rank \($0) (\(ep))" } ?? ep
            return "rank \(me): \(op): refused a frame from \(who): \(e)"
        case .transport(let op, let me, let peer, let ep, let e):
            let who = peer.map { "rank \($0) (\(ep))" } ?? ep
            return "rank \(me): \(op): transport error with \(who): \(e)"
        case .invalidArgument(let s): return s
        case .aborted(let op, let me, let epoch, let reason):
            return "rank \(me): \(op): membership \(epoch) \(reason)"
        }
    }

    /// The rank this error blames, if any.
    public var peer: Int? {
        switch self {
        case .peerTimeout(_, _, let p, _, _): return p
        case .peerGone(_, _, let p, _, _): return p
        case .protocolViolation(_, _, let p, _, _): return p
        case .transport(_, _, let p, _, _): return p
        case .invalidArgument, .aborted: return nil
        }
    }
}

func formatSeconds(_ s: Double) -> String {
    s < 1 ? "\(Int((s * 1000).rounded())) ms" : "\((s * 100).rounded() / 100) s"
}
