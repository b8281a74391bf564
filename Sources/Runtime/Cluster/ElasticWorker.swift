import Collectives
import Foundation
import Parallel
import Training
import Transport

/// A data-parallel worker under an `elastic:` policy: one trainer lives through every membership the coordinator
/// forms. When a collective fails (a peer died, or the coordinator's new membership aborted it), the worker waits
/// for the next assignment instead of failing the job; in it the data plane is re-formed under the new epoch,
/// the replicas agree on their state (`agreeReplicaState`: the furthest completed step, copied from the lowest
/// rank holding it where states differ) and training goes on with the data resharded over the new replica count
/// and the same global batch. No checkpoint is read.
func runElasticDataParallel(
    _ first: Assignment, prepared: PreparedJoin? = nil, plane: DataPlane, control: WorkerControl,
    log: @escaping @Sendable (String) -> Void
) throws -> FinalReport {
    let switches = MembershipSwitch()
    installMembershipHandlers(control: control, plane: plane, switches: switches)
    plane.keepSpareRings()
    let data = try loadElasticData(first, prepared: prepared?.data, control: control, log: log)
    var assignment = first
    var trainer: Trainer? = prepared?.trainer
    var failedAt: UInt64?
    var stepAtFailure = 0
    var stepInFlight = true
    var lastStepEnd: UInt64 = 0
    while true {
        // A membership that ended before this worker joined it (it was still loading) is skipped for the newest.
        if let newer = control.nextAssignment(after: assignment.membershipEpoch, timeout: 0) {
            assignment = newer
            failedAt = failedAt ?? Deadline.nowNanoseconds()
        }
        do {
            let recovery = failedAt.map {
                RecoveryLog(
                    failedAt: $0, stepAtFailure: stepAtFailure, stepInFlight: stepInFlight, lastStepEnd: lastStepEnd,
                    assignment: assignment, control: control, log: log)
            }
            let report = try trainMembership(
                assignment, data: data, plane: plane, control: control, trainer: &trainer, switches: switches,
                recovery: recovery)
            control.post(.done(report))
            return report
        } catch {
            failedAt = Deadline.nowNanoseconds()
            healTrace("left membership \(assignment.membershipEpoch): \(error)")
            stepAtFailure = trainer?.step ?? 0
            stepInFlight = !((error as? CollectiveError)?.isBetweenSteps ?? false)
            lastStepEnd = switches.lastStepEnd
            guard error is CollectiveError, let next = nextMembership(after: assignment, control: control) else {
                let ended = endedByStop(error, trainer: trainer, assignment: assignment, data: data, control: control)
                control.post(.failed(rank: assignment.rank, message: "\(ended)"))
                throw ended
            }
            assignment = next
        }
    }
}

/// The job's data for an elastic worker: loaded here, or already by a joiner while it prepared. A joiner given up
/// on while it loaded (`elastic.join_timeout_s`) ends with the coordinator's reason; any failure is reported.
func loadElasticData(
    _ first: Assignment, prepared: JobData?, control: WorkerControl, log: @Sendable (String) -> Void
) throws -> JobData {
    let data: JobData
    do {
        data = try prepared ?? first.job.loadData()
        if let reason = control.stopReason { throw RuntimeError.stopped(reason) }
    } catch {
        control.post(.failed(rank: first.rank, message: "\(error)"))
        throw error
    }
    if let notice = data.notice, first.rank == 0 { log(notice) }
    return data
}

/// A new membership pulls this process out of the old one: after a loss at once (its collectives abort now, not
/// at the peer deadline), for a join at the next step boundary (`MembershipSwitch`), with an abort after its grace
/// as the fallback. Set before the data loads, so that a death during loading aborts the first barrier too.
/// The coordinator's stop (below `min_workers`) ends the step in flight now, and this rank may save.
func installMembershipHandlers(control: WorkerControl, plane: DataPlane, switches: MembershipSwitch) {
    control.setAssignmentHandler { [plane, switches] next in
        healTrace("assign-received \(next.membershipEpoch)")
        let epoch = next.membershipEpoch
        let reason = "aborted: the coordinator formed membership \(epoch)"
        if next.admitsJoiner == true {
            switches.joinPending(epoch)
            switches.abortIfStuck(plane, before: epoch, reason: reason + " (its step boundary came too late)")
        } else {
            plane.abortCollectives(before: epoch, reason: reason)
            plane.dropOutboxes(notIn: next.peers)
        }
        // A joiner's inbox is connected to (handshake included) while this rank leaves the old membership.
        plane.connectAhead(to: next.peers)
    }
    control.setStopHandler { [plane] reason in plane.abortCollectives(before: .max, reason: "stopped: \(reason)") }
}

/// One line per recovery, on the first completed step of the new membership: when the failed collective ended,
/// what the replicas agreed on, and when training had a step again (CLOCK_MONOTONIC nanoseconds, so a script can
/// put its own kill time beside them). The same figures go to the coordinator (`recovered`), which writes them to
/// the metrics file.
final class RecoveryLog {
    let failedAt: UInt64
    let stepAtFailure: Int
    let stepInFlight: Bool
    let lastStepEnd: UInt64
    let assignment: Assignment
    let control: WorkerControl
    let log: @Sendable (String) -> Void
    var agreement: ReplicaAgreement?
    var agreedAt: UInt64 = 0
    private var done = false

    init(
        failedAt: UInt64, stepAtFailure: Int, stepInFlight: Bool, lastStepEnd: UInt64, assignment: Assignment,
        control: WorkerControl, log: @escaping @Sendable (String) -> Void
    ) {
        self.failedAt = failedAt
        self.stepAtFailure = stepAtFailure
        self.stepInFlight = stepInFlight
        self.lastStepEnd = lastStepEnd
        self.assignment = assignment
        self.control = control
        self.log = log
    }

    func stepDone(_ step: Int) {
        guard !done else { return }
        healTrace("first-step")
        done = true
        let now = Deadline.nowNanoseconds()
        let report = makeReport(step: step, now: now)
        control.post(.recovered(report))
        let seconds = { (t: UInt64) in String(format: "%.3f", Double(t &- self.failedAt) / 1e9) }
        log(
            "elastic: rank \(assignment.rank) of \(assignment.worldSize) in membership \(assignment.membershipEpoch): "
                + "step \(step) done \(seconds(now)) s after the failed collective (agreed in \(seconds(agreedAt)) s "
                + "on step \(report.agreedStep) from steps \(report.stepsBefore), "
                + "\(report.bytesCopied) bytes copied\(copyText(report)); failed_ns \(failedAt) step_ns \(now))")
    }

    private func makeReport(step: Int, now: UInt64) -> RecoveryReport {
        let copied = agreement.flatMap { $0.source == nil ? nil : $0 }
        var report = RecoveryReport(
            rank: assignment.rank, worldSize: assignment.worldSize, membership: assignment.membershipEpoch,
            failedAtNanoseconds: failedAt, agreedAtNanoseconds: agreedAt, stepDoneAtNanoseconds: now,
            stepAtFailure: stepAtFailure, agreedStep: agreement?.step ?? step - 1,
            stepsBefore: agreement?.stepsBefore ?? [], bytesCopied: agreement?.bytesCopied ?? 0,
            source: agreement?.source, copySeconds: copied?.copySeconds,
            copyGigabytesPerSecond: copied?.copyGigabytesPerSecond, stepInFlight: stepInFlight)
        report.lastStepEndNanoseconds = lastStepEnd > 0 ? lastStepEnd : nil
        return report
    }

    /// " in S s (R GB/s)" for a copy, else nothing.
    private func copyText(_ report: RecoveryReport) -> String {
        guard let s = report.copySeconds, let rate = report.copyGigabytesPerSecond else { return "" }
        return String(format: " in %.4f s (%.3f GB/s)", s, rate)
    }
}

/// One membership's training: after the first, the replicas first make their states identical.
private func trainMembership(
    _ assignment: Assignment, data: JobData, plane: DataPlane, control: WorkerControl, trainer: inout Trainer?,
    switches: MembershipSwitch, recovery: RecoveryLog?
) throws -> FinalReport {
    let first = assignment.membershipEpoch == WireHeader.firstEpoch
    // A later membership meets in its state agreement (under the rendezvous deadline): no barrier before it.
    let communicator = try formCommunicator(assignment, plane: plane, meet: first)
    healTrace("formed")
    if communicator == nil, assignment.membershipEpoch > plane.epoch {
        try plane.resetPeers(assignment.peers, globalRank: assignment.rank, epoch: assignment.membershipEpoch)
    }
    do {
        var agreedStep: Int?
        if !first {
            let continuing = try trainer ?? DataParallelWorker.makeTrainer(job: assignment.job, data: data)
            trainer = continuing
            agreedStep = try agree(continuing, communicator: communicator, assignment, recovery: recovery)
        }
        let worker = try DataParallelWorker(
            assignment: assignment, data: data, communicator: communicator, control: control, continuing: trainer)
        trainer = worker.trainer
        worker.membershipEnded = { [plane, switches, epoch = assignment.membershipEpoch] in
            switches.reasonToLeave(epoch, aborted: plane.interruption(of: epoch))
        }
        worker.onStepDone = recovery.map { r in { r.stepDone($0) } }
        return try worker.run(agreedStep: agreedStep)
    } catch {
        // Neighbours still inside this membership's all-reduce leave it now (see `MembershipSwitch`).
        communicator?.closeRingLinks()
        throw error
    }
}

/// The replicas' state agreement, which is also where a new membership's ranks first meet; from then on its
/// collectives run under the peer deadline. Returns the step every replica continues from.
private func agree(
    _ trainer: Trainer, communicator: Communicator?, _ assignment: Assignment, recovery: RecoveryLog?
) throws -> Int {
    var step = trainer.step
    if let communicator {
        let agreement = try agreeReplicaState(trainer, communicator: communicator)
        communicator.setTimeout(assignment.timeouts.peerDeadline)
        healTrace("agreed")
        recovery?.agreement = agreement
        step = agreement.step
    }
    recovery?.agreedAt = Deadline.nowNanoseconds()
    return step
}

/// The coordinator's next membership after a failed collective: it comes once the coordinator has seen the death
/// (at most the peer deadline, plus the time to tell every survivor); nil when none comes or it said stop.
func nextMembership(after assignment: Assignment, control: WorkerControl) -> Assignment? {
    let wait = assignment.timeouts.peerDeadline * 2 + 1
    return control.nextAssignment(after: assignment.membershipEpoch, timeout: wait)
}

/// `COHORT_DEBUG_JOIN_DELAY_S`: seconds a joining worker waits before it loads its data, to stand for a slow or
/// stuck joiner in tests of `elastic.join_timeout_s` (the math is unchanged).
func debugJoinDelay() throws -> Double? {
    guard let text = ProcessInfo.processInfo.environment["COHORT_DEBUG_JOIN_DELAY_S"] else { return nil }
    guard let seconds = Double(text), seconds >= 0, seconds <= 3600 else {
        throw RuntimeError.invalid("COHORT_DEBUG_JOIN_DELAY_S: expected seconds in 0...3600, got \(text)")
    }
    return seconds
}
