import Foundation
import Transport

/// Aborting the collectives of a membership that has ended (elastic training): a worker died, the coordinator
/// formed the next membership, and every survivor must leave the all-reduce it is blocked in now, not at the peer
/// deadline. Waits on this plane (its inbox and the shared-memory rings its communicators made) check between
/// slices of at most `abortCheckSeconds`, and fail as a closed link naming the membership and the reason.
extension DataPlane {
    /// The longest a blocked receive goes without looking at the abort flag.
    static let abortCheckSeconds = 0.02

    /// From any thread: every collective of a membership before `epoch` fails at its next wait.
    public func abortCollectives(before epoch: UInt32, reason: String) {
        abortState { before, why in
            if epoch > before {
                before = epoch
                why = reason
            }
        }
    }

    /// Why the collectives of membership `epoch` were aborted, or nil while it is current.
    public func interruption(of epoch: UInt32) -> String? {
        abortState { before, why in epoch < before ? "aborted: \(why)" : nil }
    }
}
