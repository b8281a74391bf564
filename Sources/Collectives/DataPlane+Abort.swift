import Foundation
import Transport

/// Aborting the collectives of a membership that has ended (elastic training): a worker died, the coordinator
/// formed the next membership, and every survivor must leave the all-reduce it is blocked in now, not at the peer
/// deadline. Waits on this plane (its inbox and the shared-memory rings its communicators made) check between
/// slices of at most `abortCheckSeconds`, and fail as a closed link naming the membership and the reason.
extension DataPlane {
    /// The longest a blocked receive goes without looking at the abort flag.
    static let abortCheckSeconds = 0.005

    /// From any thread: every collective of a membership before `epoch` fails at its next wait.
    public func abortCollectives(before epoch: UInt32, reason: String) {
        let aborted = abortState { before, why in
            guard epoch > before else { return false }
            before = epoch
            why = reason
            return true
        }
        // A wait asleep on a ring's futex would see the flag only when its slice ends; wake it now, so a joiner
        // or a death stalls the survivors for the new ring and the agreement, not for the slice.
        if aborted { ringWaiters.wakeAll() }
    }

    /// Rings whose waits an abort must wake (held weakly: a ring ends with its communicator).
    func wakeOnAbort(_ ring: SharedMemoryRing) { ringWaiters.add(ring) }

    /// Why the collectives of membership `epoch` were aborted, or nil while it is current.
    public func interruption(of epoch: UInt32) -> String? {
        abortState { before, why in epoch < before ? "aborted: \(why)" : nil }
    }
}

/// The shared-memory rings of a plane's communicators, held weakly, for `abortCollectives` to wake.
final class RingWaiters: @unchecked Sendable {
    private struct Entry { weak var ring: SharedMemoryRing? }
    private var entries: [Entry] = []
    private let lock = NSLock()

    func add(_ ring: SharedMemoryRing) {
        lock.withLock {
            entries.removeAll { $0.ring == nil }
            entries.append(Entry(ring: ring))
        }
    }

    func wakeAll() {
        let rings = lock.withLock { entries.compactMap(\.ring) }
        for ring in rings { ring.wakeWaiters() }
    }
}
