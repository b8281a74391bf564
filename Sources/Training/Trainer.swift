import Datasets
import NN
import Tensors

/// One model's training step, split where a data-parallel trainer needs to step in:
/// `computeGradients` (forward + backward on this process's rows) → [all-reduce `model.gradients`] →
/// `applyUpdate` (regularisation, clipping, learning rate from the schedule, optimizer step).
/// A single process simply calls `trainStep`.
public final class Trainer {
    public let model: Sequential
    public let optimizer: Optimizer
    public let schedule: LearningRateSchedule
    public let regularization: Regularization
    /// `regularization` without its clipping: the penalties are element-wise, the clip needs the norm first.
    private let penalties: Regularization
    public let loss = SoftmaxCrossEntropy()
    /// Optimizer steps taken (drives the schedule).
    public private(set) var step = 0
    /// Constraints re-imposed around every optimizer step (pruning masks, gradual pruning), in order: each sees the
    /// gradients before the update and the parameters after it. Every replica applies the same ones to the same
    /// all-reduced gradients, so data-parallel replicas stay identical.
    public var parameterConstraints: [any ParameterConstraint] = []
    /// Knowledge distillation: the loss becomes `DistillationLoss` against this teacher, run on the same rows.
    public var distillation: DistillationTeacher?
    /// State saved and restored with the optimizer's in every checkpoint.
    public var checkpointedState: [any CheckpointedState] = []
    /// `checkpointedState` and every parameter constraint with state of its own (QAT's observers).
    public var allCheckpointedState: [any CheckpointedState] {
        checkpointedState + parameterConstraints.compactMap { $0 as? any CheckpointedState }
    }

    public init(
        model: Sequential, optimizer: Optimizer, schedule: LearningRateSchedule,
        regularization: Regularization = Regularization()
    ) {
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.regularization = regularization
        var penalties = regularization
        penalties.clipNorm = nil
        self.penalties = penalties
    }

    /// Forward and backward on x [b, D] with its labels; parameter gradients land in `model.gradients`.
    /// `normalizer`: the number of examples the loss is averaged over (the GLOBAL batch under data parallelism;
    /// default b). Returns the mean loss over these b rows and how many of them were classified correctly.
    @discardableResult
    public func computeGradients(x: Tensor, labels: UnsafeBufferPointer<Int32>, normalizer: Int? = nil) -> (
        loss: Float, correct: Int
    ) {
        if let distillation {
            return distillation.lossAndGradients(student: model, x: x, labels: labels, normalizer: normalizer)
        }
        let logits = model.forward(x, training: true)
        let l = loss.forward(logits: logits, labels: labels)
        let correct = correctPredictions(logits, labels: labels)
        model.backward(loss.backward(normalizer: normalizer))
        return (l, correct)
    }

    /// Continues a run restored from a checkpoint at optimizer step `step` (the schedule's position).
    public func resume(atStep step: Int) { self.step = step }

    /// The rate the next `applyUpdate` uses.
    public var currentLearningRate: Float { schedule.rate(at: step) }

    /// Regularise and clip `model.gradients` (by this process's own norm), then one optimizer step.
    @discardableResult
    public func applyUpdate() -> Float { applyUpdate(squaredNorm: { $0 }) }

    /// Regularise and clip `model.gradients`, then one optimizer step at the scheduled rate.
    ///
    /// `squaredNorm` turns this process's squared gradient norm into the one clipping is defined on: a pipeline
    /// stage holds a slice of the model and passes a closure that sums the slices' squares across its stages, so
    /// global-norm clipping is written once, here. Returns that global norm: every rank sees the same one, so it
    /// is what divergence is decided on. A step whose norm is not finite leaves the weights as they were (the
    /// schedule still moves on).
    @discardableResult
    public func applyUpdate(squaredNorm reduce: (Float) throws -> Float) rethrows -> Float {
        let g = model.gradients
        penalties.apply(parameters: model.parameters, gradients: g)
        return finishUpdate(squaredNorm: try reduce(g.squaredNorm()))
    }

    /// The rest of `applyUpdate` once its penalties are in `model.gradients` and the (reduced) squared norm is
    /// known: clipping and the optimizer step. An elastic pipeline stage whose update was cut off after the
    /// norm's reduction finishes it here, with the norm its replica's other stages used.
    @discardableResult
    public func finishUpdate(squaredNorm: Float) -> Float {
        let g = model.gradients
        let norm = squaredNorm.squareRoot()
        optimizer.learningRate = schedule.rate(at: step)
        step += 1
        guard norm.isFinite else { return norm }
        if let maxNorm = regularization.clipNorm, norm > maxNorm && norm > 0 { g.scale(maxNorm / norm) }
        for c in parameterConstraints { c.constrainGradients(g, step: step) }
        optimizer.update(parameters: model.parameters, gradients: g)
        for c in parameterConstraints { c.constrainParameters(model.parameters, step: step) }
        return norm
    }

    @discardableResult
    public func trainStep(x: Tensor, labels: UnsafeBufferPointer<Int32>) -> (loss: Float, correct: Int) {
        let r = computeGradients(x: x, labels: labels)
        applyUpdate(squaredNorm: { r.loss.isFinite ? $0 : .nan })
        return r
    }

    /// Mean loss and accuracy over a whole data set, in evaluation mode (no dropout), in batches.
    public func evaluate(_ data: LabeledDataset, batchSize: Int = 1000) -> (loss: Float, accuracy: Float) {
        guard data.count > 0 else { return (0, 0) }
        let buffer = BatchBuffer(capacity: batchSize, featureCount: data.featureCount)
        let eval = SoftmaxCrossEntropy()
        var total = 0.0
        var correct = 0
        var lo = 0
        let indices = Array(0..<data.count)
        while lo < data.count {
            let hi = min(lo + batchSize, data.count)
            let (x, y) = buffer.load(indices[lo..<hi], from: data)
            let logits = model.forward(x, training: false)
            total += Double(eval.forward(logits: logits, labels: y)) * Double(hi - lo)
            correct += correctPredictions(logits, labels: y)
            lo = hi
        }
        return (Float(total / Double(data.count)), Float(correct) / Float(data.count))
    }
}
