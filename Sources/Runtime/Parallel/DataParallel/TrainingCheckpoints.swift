import Collectives
import Foundation
import NN

/// Where a restored run picks up: the epoch and the step within it (the data cursor).
public struct ResumePoint: Sendable, Equatable {
    public var step: Int
    public var epoch: Int
    public var stepInEpoch: Int
}

/// Saves and restores a trainer through a `CheckpointStore`: the weights as safetensors (the flat buffer's
/// layout), the optimizer's slots, its name and step, and the data cursor. Written by one rank; the replicas'
/// weights are identical, so any rank's copy is the cluster's.
public struct TrainingCheckpoints: Sendable {
    public let store: CheckpointStore
    public let spec: CheckpointSpec

    public init(spec: CheckpointSpec) {
        self.spec = spec
        store = CheckpointStore(directory: spec.directory, keep: spec.keep)
    }

    @discardableResult
    public func save(_ trainer: Trainer, epoch: Int, stepInEpoch: Int, seed: UInt64) throws -> String {
        let opt = trainer.optimizer.state()
        let state = CheckpointState(
            step: trainer.step, epoch: epoch, dataCursor: stepInEpoch, rngState: [seed],
            optimizerState: opt.slots,
            info: ["optimizer": opt.name, "optimizer_step": "\(opt.step)"])
        let model = trainer.model
        return try store.save(layout: model.parameterLayout, flat: UnsafeBufferPointer(model.parameters.buffer), state: state)
    }

    /// Loads the newest valid checkpoint into `trainer`; nil when there is none.
    public func restoreLatest(into trainer: Trainer) throws -> ResumePoint? {
        guard let c = store.latestValid() else { return nil }
        return try restore(c, into: trainer)
    }

    /// Data parallelism: every rank resumes from the step that rank 0 finds newest, each from its own copy of the
    /// directory (shared storage, or one copy per host). A rank whose copy lacks that step fails naming it and the
    /// step, instead of loading another step's optimizer moments (the weights would be re-broadcast from rank 0;
    /// the moments would not, and the replicas would drift apart). Nil when rank 0 has no checkpoint.
    public func restoreAgreed(with communicator: Communicator?, into trainer: Trainer) throws -> ResumePoint? {
        guard let communicator, communicator.size > 1 else { return try restoreLatest(into: trainer) }
        let newest = communicator.rank == 0 ? store.latestValid() : nil
        var step: [Float] = [Float(newest?.step ?? -1)]  // exact below 2²⁴ steps
        try step.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
        guard step[0] >= 0 else { return nil }
        if let newest { return try restore(newest, into: trainer) }
        do { return try restore(step: Int(step[0]), into: trainer) } catch {
            throw RuntimeError.invalid(
                "rank \(communicator.rank): \(error) (rank 0 resumes from step \(Int(step[0])): "
                    + "every host needs the checkpoint directory, e.g. on shared storage)")
        }
    }

    /// Loads the valid checkpoint of `step` into `trainer` (a pipeline stage resuming where all stages can).
    public func restore(step: Int, into trainer: Trainer) throws -> ResumePoint {
        var rejected: [RejectedCheckpoint] = []
        guard let c = store.valid(step: step, rejected: &rejected) else {
            let why = rejected.isEmpty ? "there is none" : rejected.map(\.description).joined(separator: "; ")
            throw RuntimeError.invalid("checkpoint: no valid checkpoint of step \(step) in \(store.directory): \(why)")
        }
        return try restore(c, into: trainer)
    }

    private func restore(_ c: Checkpoint, into trainer: Trainer) throws -> ResumePoint {
        let model = trainer.model
        let values = try c.weights.flatValues(layout: model.parameterLayout, file: c.weightsPath)
        model.load(values)
        let name = c.state.info["optimizer"] ?? trainer.optimizer.name
        let optStep = Int(c.state.info["optimizer_step"] ?? "") ?? c.state.step
        try trainer.optimizer.load(OptimizerState(name: name, step: optStep, slots: c.state.optimizerState))
        trainer.resume(atStep: c.state.step)
        return ResumePoint(step: c.state.step, epoch: c.state.epoch, stepInEpoch: c.state.dataCursor)
    }
}
