import Collectives
import Foundation
import Training
import Transport

/// A join's new ring, negotiated while the members still train in the old membership. Link negotiation is three
/// socket round trips through every process's libzmq threads (0.7–1.2 ms on a loaded 2-core machine), which the
/// members used to spend after leaving their step; on W1 that alone was about a step. On a join's assignment a
/// member forms the next membership's communicator ahead (`Communicator(ahead:…)`) and negotiates its links on a
/// background thread; at the switch the training thread takes it, links ready. The joiner negotiates its side at
/// once (it trains in nothing), and every rank of every later membership calls `establishLinks` first, so the
/// frames match whichever ranks went ahead.
final class RingAhead: @unchecked Sendable {
    private struct Pending {
        let epoch: UInt32
        let communicator: Communicator
        let done: DispatchSemaphore
        var error: CollectiveError?
    }
    private let lock = NSLock()
    private var pending: Pending?
    /// The newest membership whose ring was started ahead or formed without (by `take`): exactly one of the two
    /// negotiates each ring. The training thread can reach a join's membership before the control thread has
    /// started its ring ahead (a neighbour that left first fails its step), and a late start would then send the
    /// link frames a second time.
    private var claimed: UInt32 = 0

    /// From the control thread, on a join's assignment: forms `assignment`'s communicator and starts negotiating
    /// its links. A later assignment replaces an earlier one still pending (whose negotiation its abort ends).
    func start(_ assignment: Assignment, plane: DataPlane) {
        guard assignment.worldSize > 1,
            let c = try? Communicator(
                ahead: plane, rank: assignment.rank, peers: assignment.peers, epoch: assignment.membershipEpoch)
        else { return }
        c.options.adaptSpin(ranksOnHost: assignment.hosts.filter { $0 == assignment.hosts[assignment.rank] }.count)
        c.options.timeout = assignment.timeouts.rendezvousTimeout
        c.quietWaits = true
        let done = DispatchSemaphore(value: 0)
        let started: Bool = lock.withLock {
            guard assignment.membershipEpoch > claimed else { return false }
            claimed = assignment.membershipEpoch
            pending = Pending(epoch: assignment.membershipEpoch, communicator: c, done: done)
            return true
        }
        guard started else { return }
        let thread = Thread { [self] in
            var failure: CollectiveError?
            do throws(CollectiveError) { try c.establishLinks() } catch { failure = error }
            healTrace("links-ahead \(assignment.membershipEpoch)\(failure.map { " failed: \($0)" } ?? "")")
            lock.withLock { if pending?.epoch == assignment.membershipEpoch { pending?.error = failure } }
            done.signal()
        }
        thread.name = "cohort-ring-ahead"
        thread.start()
    }

    /// The communicator formed ahead for `epoch`, once its negotiation has ended (waiting for it at most
    /// `timeout` s); nil when none was started for it, and then none will be. A negotiation that failed throws its error: the peers that
    /// went ahead with it are committed to its frames, so this membership cannot form without it.
    func take(epoch: UInt32, timeout: Double) throws -> Communicator? {
        let found: Pending? = lock.withLock {
            if pending?.epoch == epoch { return pending }
            claimed = max(claimed, epoch)
            return nil
        }
        guard let p = found else { return nil }
        if p.done.wait(timeout: .now() + timeout) == .timedOut {
            throw CollectiveError.invalidArgument(
                "the ring of membership \(epoch) negotiated ahead did not finish in \(timeout) s")
        }
        let error = lock.withLock {
            defer { pending = nil }
            return pending?.error
        }
        if let error { throw error }
        p.communicator.quietWaits = false
        return p.communicator
    }
}
