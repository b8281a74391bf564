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

extension FrameDropReason: DropReasonKind {
    public static var droppedThing: String { "a data-plane frame" }
}

/// What the data plane dropped, counted, and warned about at most once per peer per interval.
public typealias DroppedFrames = DropLog<FrameDropReason>
