import Collectives
import Foundation
import NN
import Parallel
import Training
import Transport

/// One stage of an elastic DP × PP grid. When a worker dies, the coordinator drops its whole replica (a pipeline
/// cannot run without a stage, and no survivor holds the lost one's state) and the other replicas go on as a
/// smaller grid: each stage here is rebuilt for the new replica count around its predecessor's model and trainer,
/// and the stages agree on the last step that all of them completed (`agreeStageState`), redoing the interrupted
/// one with the same global batch. No checkpoint is read.
func runElasticPipeline(
    _ first: Assignment, prepared: PreparedJoin? = nil, plane: DataPlane, control: WorkerControl,
    log: @escaping @Sendable (String) -> Void
) throws -> FinalReport {
    let switches = MembershipSwitch()
    installMembershipHandlers(control: control, plane: plane, switches: switches)
    plane.keepSpareRings(PipelineStageWorker.groupsPerStage)
    let data = try loadElasticData(first, prepared: prepared?.data, control: control, log: log)
    var assignment = first
    // The newest membership's stage, which the next one carries on from. Only it is kept: the buffers a stage
    // lends libzmq belong to the model, which goes on, and an older stage's shared-memory rings, closed when it
    // goes, would otherwise stay mapped for the rest of the run, one set per membership.
    var latest: PipelineStageWorker?
    var failure: (at: UInt64, step: Int, inFlight: Bool, lastStepEnd: UInt64)?
    while true {
        if let newer = control.nextAssignment(after: assignment.membershipEpoch, timeout: 0) {
            assignment = newer
        }
        do {
            let recovery = failure.map {
                RecoveryLog(
                    failedAt: $0.at, stepAtFailure: $0.step, stepInFlight: $0.inFlight, lastStepEnd: $0.lastStepEnd,
                    assignment: assignment, control: control, log: log)
            }
            let report = try trainStageMembership(
                assignment, data: data, plane: plane, control: control, latest: &latest, switches: switches,
                recovery: recovery, prebuilt: latest == nil ? prepared?.stageModels ?? [] : [])
            control.post(.done(report))
            return report
        } catch {
            healTrace("left membership \(assignment.membershipEpoch): \(error)")
            failure = (
                Deadline.nowNanoseconds(), latest?.trainer.step ?? 0,
                !((error as? CollectiveError)?.isBetweenSteps ?? false), switches.lastStepEnd
            )
            guard error is CollectiveError, let next = nextMembership(after: assignment, control: control) else {
                let ended = control.coordinatorLoss == nil ? control.stopReason.map(RuntimeError.ended(byStop:)) : nil
                if case .dismissed = ended {
                } else {
                    control.post(.failed(rank: assignment.rank, message: "\(ended ?? error)"))
                }
                throw ended ?? error
            }
            assignment = next
        }
    }
}

/// One membership of the grid: the stage for this assignment, after the first one carrying on from the stage
/// before it (`latest`, replaced as soon as this one exists, so that a failure during the agreement still leaves
/// the newest state there).
private func trainStageMembership(
    _ assignment: Assignment, data: JobData, plane: DataPlane, control: WorkerControl,
    latest: inout PipelineStageWorker?, switches: MembershipSwitch, recovery: RecoveryLog?, prebuilt: [Sequential]
) throws -> FinalReport {
    let previous = latest
    // A later membership, which a joiner's first one is too, meets in its agreement (under the rendezvous
    // deadline): no barrier before it.
    let later = previous != nil || assignment.membershipEpoch > WireHeader.firstEpoch
    let communicator = try formCommunicator(assignment, plane: plane, meet: !later)
    healTrace("formed")
    // The stage before carries on: its model, trainer, BatchNorm statistics, dropout generators and the record of
    // a cut-off update, with receive buffers and groups for the new grid.
    let worker = try PipelineStageWorker(
        assignment: assignment, data: data, communicator: communicator, control: control, continuing: previous,
        prebuilt: prebuilt)
    healTrace("stage-built")
    latest = worker
    var agreedStep: Int?
    if later {
        if previous == nil { worker.updates.joining = true }
        guard let communicator else { throw RuntimeError.invalid("pipeline stage \(worker.stage) has no communicator") }
        do {
            try worker.establishRingLinks()
            agreedStep = try agree(worker, world: communicator, assignment, recovery: recovery)
        } catch {
            worker.closeRingLinks()
            throw error
        }
    }
    worker.membershipEnded = { [plane, switches, epoch = assignment.membershipEpoch] voted in
        switches.reasonToLeave(epoch, aborted: plane.interruption(of: epoch), pipelineVote: voted)
    }
    worker.joinPending = { [switches, epoch = assignment.membershipEpoch] in switches.joinPending(after: epoch) }
    worker.evaluating = { [switches] in switches.setEvaluating($0) }
    worker.onStepDone = recovery.map { r in { r.stepDone($0) } }
    do {
        return try worker.run(agreedStep: agreedStep)
    } catch {
        // Neighbours still inside this membership's collectives leave them now.
        worker.closeRingLinks()
        throw error
    }
}

/// The stages' agreement, where a new membership's ranks first meet; from then on every group of the stage
/// runs under the peer deadline. Returns the step the grid continues from.
private func agree(
    _ worker: PipelineStageWorker, world: Communicator, _ assignment: Assignment, recovery: RecoveryLog?
) throws -> Int {
    let agreement = try worker.agreeStageState(world: world)
    worker.setCollectiveTimeout(assignment.timeouts.peerDeadline)
    healTrace("agreed")
    let copied = agreement.replicas
    recovery?.agreement = ReplicaAgreement(
        step: agreement.step, stepsBefore: agreement.stepsBefore, source: copied?.source,
        bytesCopied: copied?.bytesCopied ?? 0, copySeconds: copied?.copySeconds ?? 0)
    recovery?.agreedAt = Deadline.nowNanoseconds()
    return agreement.step
}
