import Config
import NN
import Tensors

/// Something imposed on a model's flat buffers around each optimizer step (`Trainer.parameterConstraints`).
/// `step` is the number of updates made so far, this one included.
public protocol ParameterConstraint: AnyObject {
    func constrainGradients(_ gradients: Tensor, step: Int)
    func constrainParameters(_ parameters: Tensor, step: Int)
}

/// A fixed pruning mask over the flat parameter buffer (1 kept, 0 pruned; biases always kept): pruned gradients
/// are zeroed before the update, so momentum and Adam moments of pruned weights stay zero, and pruned weights
/// are zeroed after it (weight decay or a stale moment cannot revive them).
public final class PruningMask: ParameterConstraint {
    public private(set) var mask: [Float]

    /// From `MagnitudePruning.prune`'s per-Dense masks (model index → [in, out] mask).
    public init(model: Sequential, denseMasks: [Int: [Float]]) {
        mask = PruningMask.flatten(model, denseMasks)
    }

    static func flatten(_ model: Sequential, _ denseMasks: [Int: [Float]]) -> [Float] {
        var flat = [Float](repeating: 1, count: model.parameterCount)
        for (i, m) in denseMasks {
            let start = model.layerRanges[i].lowerBound
            for (j, v) in m.enumerated() { flat[start + j] = v }
        }
        return flat
    }

    func replace(_ new: [Float]) { mask = new }

    public func constrainGradients(_ gradients: Tensor, step: Int) { multiply(gradients) }
    public func constrainParameters(_ parameters: Tensor, step: Int) { multiply(parameters) }

    private func multiply(_ t: Tensor) {
        let p = t.pointer
        mask.withUnsafeBufferPointer { m in for i in 0..<min(t.count, m.count) { p[i] *= m[i] } }
    }
}

/// Gradual magnitude pruning (Zhu & Gupta 2017): every `interval` steps from `startStep` for `steps` steps the
/// target sparsity rises as s_t = s_f + (s_i − s_f)·(1 − (t − t₀)/(n·Δt))³ and the mask is recomputed from the
/// current magnitudes; between updates and after the end the last mask holds.
public final class GradualPruning: ParameterConstraint {
    public let model: Sequential
    public let initialSparsity: Double, finalSparsity: Double
    public let startStep: Int, steps: Int, interval: Int
    public let global: Bool
    let mask: PruningMask

    public init(
        model: Sequential, initialSparsity: Double = 0, finalSparsity: Double, startStep: Int = 0, steps: Int,
        interval: Int = 10, global: Bool = true
    ) throws {
        try MagnitudePruning.checkSparsity(initialSparsity)
        try MagnitudePruning.checkSparsity(finalSparsity)
        guard steps >= 1 && interval >= 1 && startStep >= 0 else {
            throw PruningError("gradual pruning needs steps ≥ 1, interval ≥ 1 and start ≥ 0")
        }
        self.model = model
        self.initialSparsity = initialSparsity
        self.finalSparsity = finalSparsity
        self.startStep = startStep
        self.steps = steps
        self.interval = interval
        self.global = global
        mask = PruningMask(model: model, denseMasks: [:])
    }

    /// The scheduled sparsity after `step` updates.
    public func sparsity(at step: Int) -> Double {
        let t = min(max(step - startStep, 0), steps)
        let f = 1 - Double(t) / Double(steps)
        return finalSparsity + (initialSparsity - finalSparsity) * f * f * f
    }

    public func constrainGradients(_ gradients: Tensor, step: Int) { mask.constrainGradients(gradients, step: step) }

    public func constrainParameters(_ parameters: Tensor, step: Int) {
        let t = step - startStep
        if t >= 0 && t <= steps && (t % interval == 0 || t == steps) {
            let masks = (try? MagnitudePruning.prune(model, sparsity: sparsity(at: step), global: global)) ?? [:]
            mask.replace(PruningMask.flatten(model, masks))
        }
        mask.constrainParameters(parameters, step: step)
    }
}

extension GradualPruning {
    /// The schedule `job.compression` asks for, on `model` (no pruning when it gives no sparsity).
    public convenience init(_ spec: CompressionSpec, model: Sequential) throws {
        try self.init(
            model: model, initialSparsity: spec.initialSparsity, finalSparsity: spec.sparsity ?? 0, startStep: spec.startStep,
            steps: spec.steps, interval: spec.interval, global: spec.scope == "global")
    }
}
