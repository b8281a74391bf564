import Foundation
import Transport

/// Why a data plane dropped a frame instead of delivering it.
public enum FrameDropReason: String, Sendable, CaseIterable, Codable {
    /// A header that does not decode as a `WireHeader`, a header without its payload, or a payload whose size is
    /// not the one announced.
    case malformed
    /// A header naming a sender that is not in the peer table, or a membership far ahead of this one.
    case unknownSender = "unknown_sender"
    /// Queued frames for keys nobody has received yet passed a bound (per key, keys, or bytes).
    case overflow
    /// A connection refused in its handshake (no job token, a wrong one, or a foreign CURVE key).
    case unauthenticated
}

/// What a data plane dropped, counted, and turned into warning lines at most once per peer per `interval`:
/// whatever reaches the data port must cost a counter and a rate-limited line, never the job.
public struct DroppedFrames: Sendable {
    public private(set) var counts: [FrameDropReason: Int] = [:]
    public var total: Int { counts.values.reduce(0, +) }
    private var lastWarning: [String: UInt64] = [:]
    private var suppressed: [String: Int] = [:]
    private let interval: UInt64

    public init(warningInterval seconds: Double = 10) {
        interval = UInt64(max(seconds, 0) * 1e9)
    }

    /// Counts one dropped frame from `peer` (the address libzmq saw); returns the warning to print, or nil while
    /// that peer's warnings are rate-limited.
    public mutating func drop(_ reason: FrameDropReason, from peer: String, detail: String, now: UInt64) -> String? {
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
        return "dropped a data-plane frame from \(peer) (\(reason.rawValue)): \(detail)\(more)"
    }
}
