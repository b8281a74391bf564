import Foundation

/// Why the coordinator dropped a message instead of acting on it.
public enum DropReason: String, Sendable, CaseIterable, Codable {
    /// More frames than a control message has, or a frame over the socket's size limit.
    case oversized
    /// Not a ROUTER envelope of identity + one body frame.
    case malformedEnvelope = "malformed_envelope"
    /// A body that does not decode as a control message.
    case undecodable
    /// From a connection that is not a member (it never registered, or registered too late).
    case notAMember = "not_a_member"
    /// A second registration from a connection or process that already registered.
    case duplicateRegistration = "duplicate_registration"
    /// A message that makes no sense at this point (e.g. a report during rendezvous).
    case unexpected
    /// A connection refused in its handshake: no job token, a wrong one, or a CURVE key that is not the cluster's
    /// (counted per attempt; the peer's address is warned about once).
    case unauthenticated
}

/// Counts what the coordinator dropped and turns it into warning lines, at most one per peer per `interval`:
/// anything that reaches the port can send, so its traffic must cost a counter and a rate-limited line, never the
/// job (ZeroMQ's ROUTER hands us whatever arrives; a stray 70-frame message once ended a run).
public struct DroppedMessages: Sendable {
    public private(set) var counts: [DropReason: Int] = [:]
    public var total: Int { counts.values.reduce(0, +) }
    private var lastWarning: [String: UInt64] = [:]
    private var suppressed: [String: Int] = [:]
    private let interval: UInt64

    public init(warningInterval seconds: Double = 10) {
        interval = UInt64(max(seconds, 0) * 1e9)
    }

    /// Counts one dropped message from `peer`; returns the warning to print, or nil while that peer's warnings
    /// are rate-limited. Peers are keyed by the address libzmq saw (what they claim is not trusted).
    public mutating func drop(_ reason: DropReason, from peer: String, detail: String, now: UInt64) -> String? {
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
        return "dropped a message from \(peer) (\(reason.rawValue)): \(detail)\(more)"
    }
}
