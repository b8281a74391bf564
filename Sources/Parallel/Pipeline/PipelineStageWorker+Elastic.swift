import Collectives
import NN
import Training

/// What the stages of a new elastic DP × PP membership agreed on before training on.
public struct StageAgreement: Sendable, Equatable {
    /// The step every stage continues from: the last one that every stage of every surviving replica completed.
    public var step: Int
    /// Each rank's completed step before agreeing (new ranks' order).
    public var stepsBefore: [Int]
    /// True when this stage was one step ahead and went back to its copy from before that update.
    public var rolledBack: Bool
    /// The agreement of this stage's replicas (checksums, and a copy when they differed); nil with one replica.
    public var replicas: ReplicaAgreement?
}

extension PipelineStageWorker {
    /// Takes over `previous`'s state: the same stage of this process in the membership that ended, built for
    /// another replica count. Weights, optimizer slots, steps, BatchNorm statistics, dropout generators and the
    /// copy from before the last update all move over; the layer partition is the job's, so the sizes match.
    public func adoptState(of previous: PipelineStageWorker) throws {
        guard previous.stage == stage, previous.stages == stages, previous.parameters.count == parameters.count,
            previous.trainer.model.buffers.count == trainer.model.buffers.count, previous.slots.count == slots.count
        else {
            throw RuntimeError.invalid(
                "rank \(rank): stage \(previous.stage) of \(previous.stages) cannot continue as stage \(stage) of \(stages)")
        }
        let carried = StageStateSnapshot()
        carried.capture(previous.trainer)
        guard carried.restore(into: trainer) else {
            throw RuntimeError.invalid("optimizer \(trainer.optimizer.name) keeps no named slots to carry over")
        }
        let from = previous.trainer.model.buffers
        let to = trainer.model.buffers
        to.pointer.update(from: from.pointer, count: to.count)
        for (old, new) in zip(previous.slots, slots) { copyGenerators(from: old.model.layers, to: new.model.layers) }
        snapshot = previous.snapshot
    }

    /// The survivors' agreement after a member was lost: every rank's completed step over the world; a stage one
    /// step ahead of the slowest returns to its copy from before that update (`StageStateSnapshot`), so that
    /// the whole pipeline continues from one step and the interrupted one is redone in full. Then each stage's
    /// replicas compare checksums and copy from the lowest rank where they differ (`agreeReplicaState`).
    public func agreeStageState(world: Communicator) throws -> StageAgreement {
        let steps = try allGatherSteps(world)
        let lowest = steps.min() ?? trainer.step
        guard let highest = steps.max(), highest - lowest <= 1 else {
            throw RuntimeError.invalid(
                "rank \(rank): the stages' completed steps \(steps) differ by more than one; restart from a checkpoint")
        }
        var rolledBack = false
        if trainer.step > lowest {
            guard let snapshot, snapshot.step == lowest, snapshot.restore(into: trainer) else {
                throw RuntimeError.invalid(
                    "rank \(rank) (stage \(stage)): at step \(trainer.step) with no copy of step \(lowest) to return to")
            }
            rolledBack = true
        }
        let replicas = try dataParallelGroup.map { try agreeReplicaState(trainer, communicator: $0) }
        if let replicas, replicas.step != lowest {
            throw RuntimeError.invalid("rank \(rank): stage \(stage)'s replicas agreed on step \(replicas.step), not \(lowest)")
        }
        return StageAgreement(step: lowest, stepsBefore: steps, rolledBack: rolledBack, replicas: replicas)
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

    /// Every rank's completed step, in rank order (two 16-bit pieces each, exact in fp32).
    private func allGatherSteps(_ world: Communicator) throws -> [Int] {
        var table = [Float](repeating: 0, count: world.size * 2)
        let step = max(0, min(trainer.step, Int(UInt32.max)))
        table[world.rank * 2] = Float(step & 0xFFFF)
        table[world.rank * 2 + 1] = Float(step >> 16)
        try world.allReduce(&table, op: .sum)
        return (0..<world.size).map { r in
            let piece = { (i: Int) in Int(max(0, min(table[r * 2 + i], 65535))) }
            return piece(0) | piece(1) << 16
        }
    }
}

/// Dropout generators from one stage model to another built from the same layer specs, layer by layer.
private func copyGenerators(from old: [Layer], to new: [Layer]) {
    for (a, b) in zip(old, new) {
        if let ra = a as? Residual, let rb = b as? Residual { copyGenerators(from: ra.body, to: rb.body) }
        if let da = a as? Dropout, let db = b as? Dropout { db.rng = da.rng }
    }
}
