import Collectives
import Training

/// What the stages of a new elastic DP × PP membership agreed on before training on.
public struct StageAgreement: Sendable, Equatable {
    /// The step every stage continues from: the furthest any stage completed. Every stage of every survivor is
    /// there after the agreement, so no completed step is lost; when none completed the interrupted step, it is
    /// redone in full.
    public var step: Int
    /// Each rank's completed step before agreeing (new ranks' order).
    public var stepsBefore: [Int]
    /// True when this stage finished its cut-off update with its replica's norm (`StageUpdateRecord`).
    public var finishedUpdate: Bool
    /// The agreement of this stage's replicas (checksums, and a copy when they differed); nil with one replica.
    public var replicas: ReplicaAgreement?
}

extension PipelineStageWorker {
    /// The survivors' agreement after a member was lost. Every rank's completed step goes round the world; the
    /// furthest is the step the grid continues from. A stage one step behind whose update was cut off after its
    /// all-reduce finishes it with the norm its replica's stages got through the gate with (`StageUpdateRecord`).
    /// Then each stage's replicas compare checksums and copy from the lowest rank at that step where they differ
    /// (`agreeReplicaState`), which is also how a joining replica's stages get theirs; a stage still behind after
    /// that makes every rank refuse, so the job falls back to its checkpoints.
    public func agreeStageState(world: Communicator) throws -> StageAgreement {
        let ranks = try allGatherUpdates(world)
        let steps = ranks.map(\.step)
        let members = ranks.filter { !$0.joining }.map(\.step)
        let target = members.max() ?? trainer.step
        guard let lowest = members.min(), target - lowest <= 1 else {
            throw RuntimeError.invalid(
                "rank \(rank): the stages' completed steps \(steps) differ by more than one; restart from a checkpoint")
        }
        var finished = false
        if !updates.joining, trainer.step == target - 1, updates.canFinish(step: trainer.step) {
            let mates = assignment.layout.pipeline(replica: replica).map { ranks[$0] }
            if let norm = mates.first(where: { $0.step == target && $0.gateStep == target - 1 })?.squaredNorm {
                trainer.finishUpdate(squaredNorm: norm)
                updates.gate = (target - 1, norm)
                updates.pendingStep = nil
                finished = true
            }
        }
        let replicas = try dataParallelGroup.map { try agreeReplicaState(trainer, communicator: $0) }
        updates.joining = false
        let after = try allGatherUpdates(world).map(\.step)
        guard Set(after).count == 1, after.first == target else {
            throw RuntimeError.invalid(
                "rank \(rank): the stages could not agree on one step (\(steps) before, \(after) after); restart from a checkpoint"
            )
        }
        return StageAgreement(step: target, stepsBefore: steps, finishedUpdate: finished, replicas: replicas)
    }

    /// The groups of a stage of a grid that run ring collectives, each over a ring of its own: its replicas
    /// (gradients) and its pipeline (the gate's norm). The world runs none: its agreement gathers a few words by
    /// recursive doubling, over the sockets.
    public static let groupsPerStage = 2

    /// Negotiates the ring links of the stage's replicas and pipeline in one go, where a new membership's stages
    /// meet: each group's first collective would otherwise wait out its own round trips, one group after the
    /// other, while the whole grid waits.
    public func establishRingLinks() throws {
        try Communicator.establishRingLinks(together: [dataParallelGroup, pipelineGroup].compactMap { $0 })
    }

    /// The deadline of every group this stage talks in (the world, its replicas, its pipeline).
    public func setCollectiveTimeout(_ seconds: Double) {
        comm?.setTimeout(seconds)
        dataParallelGroup?.setTimeout(seconds)
        pipelineGroup?.setTimeout(seconds)
    }

    /// Closes this stage's shared-memory rings, so that neighbours still waiting in them fail at once.
    public func closeRingLinks() {
        comm?.closeRingLinks()
        dataParallelGroup?.closeRingLinks()
        pipelineGroup?.closeRingLinks()
    }

    /// Every rank's completed step, its last gate (the step it belonged to and the replica's squared norm, as its
    /// bits) and whether it is joining, in rank order.
    private func allGatherUpdates(_ world: Communicator) throws -> [(
        step: Int, gateStep: Int, squaredNorm: Float, joining: Bool
    )] {
        let gateStep = UInt64(max(0, (updates.gate?.step ?? -1) + 1))  // 0: none
        let words: [UInt64] = [
            UInt64(max(0, trainer.step)), gateStep, UInt64(updates.gate?.squaredNorm.bitPattern ?? 0),
            updates.joining ? 1 : 0,
        ]
        return try allGatherWords(words, world, algorithm: .recursiveDoubling).map { row in
            (
                Int(clamping: row[0]), Int(clamping: row[1]) - 1, Float(bitPattern: UInt32(truncatingIfNeeded: row[2])),
                row[3] != 0
            )
        }
    }
}
