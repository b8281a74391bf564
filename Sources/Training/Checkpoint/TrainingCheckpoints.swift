import Config
import Foundation
import NN

/// Where a restored run picks up: the epoch and the step within it (the data cursor).
public struct ResumePoint: Sendable, Equatable {
    public var step: Int
    public var epoch: Int
    public var stepInEpoch: Int

    public init(step: Int, epoch: Int, stepInEpoch: Int) {
        self.step = step
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
    }
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
            optimizerState: trainer.allCheckpointedState.reduce(opt.slots) { $0.merging($1.checkpointSlots()) { a, _ in a } },
            info: ["optimizer": opt.name, "optimizer_step": "\(opt.step)"])
        let model = trainer.model
        guard model.buffers.count > 0 else {
            return try store.save(layout: model.parameterLayout, flat: UnsafeBufferPointer(model.parameters.buffer), state: state)
        }
        // Buffers (BatchNorm's running statistics) are model state too: saved in the same weights file after the
        // parameters, under their own names. A copy, only for models that have buffers.
        let flat = model.parameters.array + model.buffers.array
        return try flat.withUnsafeBufferPointer {
            try store.save(layout: model.parameterLayout + model.bufferLayout, flat: $0, state: state)
        }
    }

    /// Loads the newest valid checkpoint into `trainer`; nil when there is none.
    public func restoreLatest(into trainer: Trainer) throws -> ResumePoint? {
        guard let c = store.latestValid() else { return nil }
        return try restore(c, into: trainer)
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

    /// Loads checkpoint `c` into `trainer`: weights, optimizer state and step; where its data cursor points.
    public func restore(_ c: Checkpoint, into trainer: Trainer) throws -> ResumePoint {
        let model = trainer.model
        let values = try c.weights.flatValues(layout: model.parameterLayout, file: c.weightsPath)
        let bufferValues = try c.weights.flatValues(layout: model.bufferLayout, file: c.weightsPath)
        model.load(values)
        for (i, v) in bufferValues.enumerated() { model.buffers[i] = v }
        // A moment of another length would be dropped for a zero one by the optimizer, and the run would go on
        // from a different state than the one saved: refuse it, naming the file.
        let extras = trainer.allCheckpointedState
        for (slot, moments) in c.state.optimizerState
        where moments.count != model.parameters.count && !extras.contains(where: { slot.hasPrefix($0.slotPrefix) }) {
            throw RuntimeError.invalid(
                "checkpoint \(c.statePath): optimizer slot \(slot) has \(moments.count) values, the model \(model.parameters.count) parameters"
            )
        }
        let name = c.state.info["optimizer"] ?? trainer.optimizer.name
        let optStep = Int(c.state.info["optimizer_step"] ?? "") ?? c.state.step
        var slots = c.state.optimizerState
        for extra in extras {
            let mine = slots.filter { $0.key.hasPrefix(extra.slotPrefix) }
            try extra.restore(slots: mine)
            for key in mine.keys { slots[key] = nil }
        }
        try trainer.optimizer.load(OptimizerState(name: name, step: optStep, slots: slots))
        trainer.resume(atStep: c.state.step)
        return ResumePoint(step: c.state.step, epoch: c.state.epoch, stepInEpoch: c.state.dataCursor)
    }
}
