import Config
import NN
import Tensors

/// `job.compression.qat` on a model: a `DenseFakeQuantizer` on each of the model's Dense layers from optimizer step
/// `startStep` on, and the activation observers' updates between steps.
///
/// Data parallelism: each replica records the max|x| of its own rows; `synchronizeObservers` averages the records
/// across replicas (one small all-reduce per step, sums of [max₁ … max_L, 1] so a replica without rows counts for
/// nothing) before they are folded in, so every replica's moving averages, and with them its next forward, are
/// bitwise identical. Whether a step observes depends only on the step number, so all replicas join the all-reduce
/// or none does. A single process folds its own record in after the update (`constrainParameters`).
///
/// Not checkpointed: after `--resume` the observers restart as at `start_step` (the first step only records).
public final class QuantizationAwareTraining: ParameterConstraint {
    public let model: Sequential
    public let startStep: Int
    public let freezeStep: Int?
    /// (the Dense's index in `model.layers`, its quantizer)
    public let quantizers: [(index: Int, quantizer: DenseFakeQuantizer)]
    private(set) var updates = 0

    public init(model: Sequential, startStep: Int = 0, momentum: Float = 0.01, freezeStep: Int? = nil) throws {
        let dense = model.layers.enumerated().compactMap { i, l in (l as? Dense).map { (i, $0) } }
        guard !dense.isEmpty else { throw QuantizationError("compression.qat: the model has no Dense layer to quantize") }
        guard startStep >= 0, momentum > 0 && momentum <= 1, freezeStep.map({ $0 > startStep }) ?? true else {
            throw QuantizationError("compression.qat: needs start_step ≥ 0, momentum in (0, 1], freeze step after start")
        }
        self.model = model
        self.startStep = startStep
        self.freezeStep = freezeStep
        quantizers = dense.map { ($0.0, DenseFakeQuantizer(momentum: momentum)) }
        attachIfStarted()
    }

    /// Whether the forward of the next update is fake-quantized.
    public var isActive: Bool { updates >= startStep }
    /// Whether the next update's observations are folded in (active and not frozen).
    public var isObserving: Bool { isActive && freezeStep.map { updates < $0 } ?? true }

    /// The per-tensor input scale of each Dense (by model index) that int8 inference should use; nil before the
    /// first observation.
    public var inputScales: [Int: Float]? {
        var scales: [Int: Float] = [:]
        for (i, q) in quantizers {
            guard let s = q.inputScale else { return nil }
            scales[i] = s
        }
        return scales
    }

    /// Averages this step's max|x| records across replicas with `allReduceSum` (an in-place sum over replicas)
    /// and folds them in. Call on every replica after the forward, before `applyUpdate`.
    public func synchronizeObservers(_ allReduceSum: (inout [Float]) throws -> Void) rethrows {
        guard isObserving else { return }
        var values = quantizers.map { $0.quantizer.pendingMaxAbs ?? 0 }
        values.append(quantizers.contains { $0.quantizer.pendingMaxAbs != nil } ? 1 : 0)
        try allReduceSum(&values)
        let replicas = values[quantizers.count]
        for (k, (_, q)) in quantizers.enumerated() {
            if replicas > 0 { q.commit(maxAbs: values[k] / replicas) } else { q.discardPending() }
        }
    }

    public func constrainGradients(_ gradients: Tensor, step: Int) {}

    public func constrainParameters(_ parameters: Tensor, step: Int) {
        let observing = isObserving
        for (_, q) in quantizers {
            if observing, let m = q.pendingMaxAbs { q.commit(maxAbs: m) } else { q.discardPending() }
        }
        updates = step
        attachIfStarted()
    }

    fileprivate func attachIfStarted() {
        guard isActive else { return }
        for (i, q) in quantizers {
            if let d = model.layers[i] as? Dense, d.fakeQuantizer == nil { d.fakeQuantizer = q }
        }
    }
}

/// QAT's own state goes into checkpoints: the updates counted (whether the first step after a resume is already
/// fake-quantized) and each observer's moving max|x| (the input scales the int8 model will use). Without them a
/// resumed run would start unquantized and re-learn its scales from the next batch alone.
extension QuantizationAwareTraining: CheckpointedState {
    public var slotPrefix: String { "qat." }
    static let slotName = "qat.observers"

    /// [updates, then each observer's max|x| (−1: none yet)].
    public func checkpointSlots() -> [String: [Float]] {
        [Self.slotName: [Float(updates)] + quantizers.map { $0.quantizer.observedMaxAbs ?? -1 }]
    }

    public func restore(slots: [String: [Float]]) throws {
        guard let values = slots[Self.slotName] else { return }  // a checkpoint from before QAT was on
        guard values.count == quantizers.count + 1, let first = values.first, first.isFinite, first >= 0,
            first < 0x1p24, values.dropFirst().allSatisfy({ $0.isFinite && ($0 >= 0 || $0 == -1) })
        else {
            throw QuantizationError(
                "checkpoint slot \(Self.slotName): expected \(quantizers.count + 1) finite values (updates, then each observer's max|x| or -1), got \(values.count)"
            )
        }
        updates = Int(first)
        for (k, (_, q)) in quantizers.enumerated() {
            let v = values[k + 1]
            q.setObserved(maxAbs: v < 0 ? nil : v)
        }
        attachIfStarted()
    }
}

extension QuantizationAwareTraining {
    /// The QAT `job.compression` asks for, on `model`.
    public convenience init(_ spec: QATSpec, model: Sequential) throws {
        try self.init(
            model: model, startStep: spec.startStep, momentum: Float(spec.observerMomentum),
            freezeStep: spec.observerFreezeStep)
    }

    /// "i:scale,…" for the model file's metadata ("qat_input_scales"), read back by `compress quantize`.
    public var inputScalesMetadata: String? {
        inputScales.map { $0.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",") }
    }
}

/// The constraints `job.compression` asks for: gradual pruning, then QAT (which sees the pruned weights).
public func compressionConstraints(_ spec: CompressionSpec?, model: Sequential) throws -> [any ParameterConstraint] {
    guard let spec else { return [] }
    var constraints: [any ParameterConstraint] = []
    if spec.sparsity != nil { constraints.append(try GradualPruning(spec, model: model)) }
    if let qat = spec.qat { constraints.append(try QuantizationAwareTraining(qat, model: model)) }
    return constraints
}

extension Trainer {
    /// The QAT among the constraints, if any.
    public var quantizationAwareTraining: QuantizationAwareTraining? {
        parameterConstraints.lazy.compactMap { $0 as? QuantizationAwareTraining }.first
    }
}
