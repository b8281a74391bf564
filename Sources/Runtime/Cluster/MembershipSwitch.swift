import Collectives
import Foundation
import Transport

/// How an elastic worker leaves a membership for the next one. After a loss it leaves at once: the dead peer
/// will never finish the all-reduce in flight, so the coordinator's assignment aborts it (and the step is
/// redone). A join is different: every member can finish its step, so the assignment only marks the next
/// membership pending and each member leaves at its next step boundary. Nothing is redone, and the survivors
/// stall only for the new ring, the state copy and their first step with the joiner.
///
/// The members' boundaries need not coincide: the assignment reaches them a fraction of a millisecond apart, and
/// one may already be inside the next step's all-reduce when another leaves. The one that leaves closes its
/// shared-memory rings (`Communicator.closeRingLinks`), which fails its neighbours' waits at once; over sockets
/// a fallback abort after `grace` (three of this rank's recent step times) pulls a member out. Either way the
/// member that left early completed no step the other lacks, and the replicas' agreement sees equal steps.
final class MembershipSwitch: @unchecked Sendable {
    private let lock = NSLock()
    private var pendingEpoch: UInt32 = 0
    private var lastBoundary: UInt64 = 0
    private var stepNanoseconds: UInt64 = 0
    private var evaluating = false
    private var evaluationEnded: UInt64 = 0

    /// Called by the training thread before each step of `epoch`: why it must leave now (`aborted`, the plane's
    /// abort of this membership, or a join's membership pending), or nil. Also times the steps, for `grace`, and
    /// the boundary, for `lastStepEnd`. `pipelineVote`: a grid's stage leaves for a join exactly when the last
    /// step's gate carried a vote to leave, so that its replica's stages leave together, whether or not its own
    /// copy of the assignment has arrived (it waits for it once out); nil (data parallelism) leaves once it has.
    func reasonToLeave(_ epoch: UInt32, aborted: String?, pipelineVote: Bool? = nil) -> String? {
        let now = Deadline.nowNanoseconds()
        return lock.withLock {
            if lastBoundary > 0, now > lastBoundary { stepNanoseconds = now - lastBoundary }
            lastBoundary = now
            if let aborted { return aborted }
            guard pipelineVote ?? (pendingEpoch > epoch) else { return nil }
            return pendingEpoch > epoch
                ? "left at a step boundary for membership \(pendingEpoch), which admits a joiner"
                : "left at a step boundary with its pipeline, for a membership that admits a joiner"
        }
    }

    /// Whether a membership after `epoch` that admits a joiner was formed (no side effects: a grid stage's vote).
    func joinPending(after epoch: UInt32) -> Bool { lock.withLock { pendingEpoch > epoch } }

    /// The last step boundary this rank reached (after the epoch's evaluation, when one came between), CLOCK_MONOTONIC
    /// nanoseconds: where it left, when it left between steps.
    var lastStepEnd: UInt64 { lock.withLock { lastBoundary } }

    /// From the control thread: a join's membership `epoch` was formed.
    func joinPending(_ epoch: UInt32) {
        lock.withLock { pendingEpoch = max(pendingEpoch, epoch) }
    }

    /// From the training thread: an epoch's evaluation began or ended. A grid's evaluation passes the test set
    /// through the stages and takes many steps' time; the fallback abort waits for it (`abortIfStuck`), or it would
    /// cut the evaluation short, lose the epoch's test figures and strand the stage still sending.
    func setEvaluating(_ on: Bool) {
        lock.withLock {
            evaluating = on
            if !on { evaluationEnded = Deadline.nowNanoseconds() }
        }
    }

    /// The fallback abort of a join: a member that has not left `epoch` a grace after the assignment, or after its
    /// last evaluation ended (the steps it waited for come after that), is pulled out; never while it evaluates.
    func abortIfStuck(_ plane: DataPlane, before epoch: UInt32, reason: String, after wait: Double? = nil) {
        DispatchQueue.global().asyncAfter(deadline: .now() + (wait ?? grace)) { [self] in
            let (busy, since) = lock.withLock { (evaluating, Double(Deadline.nowNanoseconds() &- evaluationEnded) / 1e9) }
            if busy {
                abortIfStuck(plane, before: epoch, reason: reason)
            } else if since < grace {
                abortIfStuck(plane, before: epoch, reason: reason, after: grace - since)
            } else {
                plane.abortCollectives(before: epoch, reason: reason)
            }
        }
    }

    /// How long a member may take to reach its step boundary before it is pulled out: three recent step times,
    /// within 5 ms and 2 s (0.1 s before the first step was timed).
    var grace: Double {
        let step = lock.withLock { stepNanoseconds }
        guard step > 0 else { return 0.1 }
        return min(max(3 * Double(step) / 1e9, 0.005), 2)
    }
}

extension CollectiveError {
    /// True for the abort a step raises before it begins (`DataParallelWorker.step`): nothing was in flight.
    var isBetweenSteps: Bool {
        if case .aborted(let operation, _, _, _) = self { return operation == "step" }
        return false
    }
}
