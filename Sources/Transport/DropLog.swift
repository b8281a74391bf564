/// A reason something a peer sent was dropped; `droppedThing` names it in warnings ("a message", "a frame").
public protocol DropReasonKind: RawRepresentable, Hashable, Sendable where RawValue == String {
    static var droppedThing: String { get }
}

/// Counts what a socket's owner dropped and turns it into warning lines, at most one per peer per interval:
/// anything that reaches a port can send, so its traffic must cost a counter and a rate-limited line, never the
/// job. Peers are keyed by the address libzmq saw (what they claim is not trusted).
public struct DropLog<Reason: DropReasonKind>: Sendable {
    public private(set) var counts: [Reason: Int] = [:]
    public var total: Int { counts.values.reduce(0, +) }
    private var lastWarning: [String: UInt64] = [:]
    private var suppressed: [String: Int] = [:]
    private let interval: UInt64

    public init(warningInterval seconds: Double = 10) {
        interval = UInt64(max(seconds, 0) * 1e9)
    }

    /// Counts one drop from `peer`; returns the warning to print, or nil while that peer's warnings are
    /// rate-limited.
    public mutating func drop(_ reason: Reason, from peer: String, detail: String, now: UInt64) -> String? {
        counts[reason, default: 0] += 1
        if lastWarning.count > 4096 {  // bounded under a flood from many addresses
            lastWarning.removeAll(keepingCapacity: true)
            suppressed.removeAll(keepingCapacity: true)
        }
        if let last = lastWarning[peer], now >= last, now - last < interval {
            suppressed[peer, default: 0] += 1
            return nil
        }
        lastWarning[peer] = now
        let more = suppressed.removeValue(forKey: peer).map { " (\($0) more dropped since the last warning)" } ?? ""
        return "dropped \(Reason.droppedThing) from \(peer) (\(reason.rawValue)): \(detail)\(more)"
    }
}
