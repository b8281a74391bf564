import Foundation
import Transport

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

extension DropReason: DropReasonKind {
    public static var droppedThing: String { "a message" }
}

/// What the coordinator dropped, counted, and warned about at most once per peer per interval.
public typealias DroppedMessages = DropLog<DropReason>
