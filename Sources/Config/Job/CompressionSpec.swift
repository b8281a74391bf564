/// The `compression:` part of a job: gradual magnitude pruning and/or quantization-aware training.
///
/// Pruning (Zhu & Gupta 2017), on when `sparsity` is given: from `start_step` the sparsity of the Dense weights rises
/// from `initial_sparsity` to `sparsity` on a cubic schedule over `steps` steps, masks recomputed every `interval`
/// steps and held (gradients and weights) after every update; the steps after that fine-tune with the final mask.
/// `scope`: global (all Dense kernels ranked together) or layer.
///
/// QAT, on when `qat:` is given (`QATSpec`): int8 fake quantization of every Dense from `qat.start_step`.
public struct CompressionSpec: Codable, Sendable, Equatable {
    /// The final sparsity; nil: no pruning.
    public var sparsity: Double?
    public var initialSparsity: Double = 0
    public var startStep: Int = 0
    public var steps: Int = 1000
    public var interval: Int = 10
    public var scope: String = "global"
    /// Quantization-aware training; nil: none.
    public var qat: QATSpec?

    public init(sparsity: Double? = nil, qat: QATSpec? = nil) {
        self.sparsity = sparsity
        self.qat = qat
    }

    enum CodingKeys: String, CodingKey {
        case sparsity
        case initialSparsity = "initial_sparsity"
        case startStep = "start_step"
        case steps, interval, scope, qat
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sparsity = try c.decodeIfPresent(Double.self, forKey: .sparsity)
        initialSparsity = try c.decodeIfPresent(Double.self, forKey: .initialSparsity) ?? initialSparsity
        startStep = try c.decodeIfPresent(Int.self, forKey: .startStep) ?? startStep
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? steps
        interval = try c.decodeIfPresent(Int.self, forKey: .interval) ?? interval
        scope = try c.decodeIfPresent(String.self, forKey: .scope) ?? scope
        qat = try c.decodeIfPresent(QATSpec.self, forKey: .qat)
    }

    func validate() throws {
        guard sparsity != nil || qat != nil else {
            throw JobError("compression", "needs sparsity (pruning) or qat (quantization-aware training), got neither")
        }
        try qat?.validate()
        guard let sparsity else { return }
        guard sparsity >= 0 && sparsity < 1 else { throw JobError("compression.sparsity", "must be in [0, 1), got \(sparsity)") }
        guard initialSparsity >= 0 && initialSparsity <= sparsity else {
            throw JobError("compression.initial_sparsity", "must be in [0, sparsity], got \(initialSparsity)")
        }
        guard startStep >= 0 else { throw JobError("compression.start_step", "must be ≥ 0, got \(startStep)") }
        guard steps >= 1 else { throw JobError("compression.steps", "must be at least 1, got \(steps)") }
        guard interval >= 1 else { throw JobError("compression.interval", "must be at least 1, got \(interval)") }
        guard scope == "global" || scope == "layer" else {
            throw JobError("compression.scope", "expected global or layer, got \"\(scope)\"")
        }
    }
}

/// `compression.qat`: quantization-aware training (int8 fake quantization with the straight-through estimator) of
/// every Dense layer from optimizer step `start_step` (0: from the start; fine-tuning a trained model usually
/// starts later). Activation scales come from a moving-average observer of max|x| with weight `observer_momentum`
/// per step (PyTorch's `averaging_constant`); `observer_freeze_step`, when set, stops updating it from that step on
/// (PyTorch's `disable_observer`), so the last steps train against the scales the int8 model will use.
public struct QATSpec: Codable, Sendable, Equatable {
    public var startStep: Int = 0
    public var observerMomentum: Double = 0.01
    public var observerFreezeStep: Int? = nil

    public init(startStep: Int = 0, observerMomentum: Double = 0.01, observerFreezeStep: Int? = nil) {
        self.startStep = startStep
        self.observerMomentum = observerMomentum
        self.observerFreezeStep = observerFreezeStep
    }

    enum CodingKeys: String, CodingKey {
        case startStep = "start_step"
        case observerMomentum = "observer_momentum"
        case observerFreezeStep = "observer_freeze_step"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        startStep = try c.decodeIfPresent(Int.self, forKey: .startStep) ?? startStep
        observerMomentum = try c.decodeIfPresent(Double.self, forKey: .observerMomentum) ?? observerMomentum
        observerFreezeStep = try c.decodeIfPresent(Int.self, forKey: .observerFreezeStep)
    }

    func validate() throws {
        guard startStep >= 0 else { throw JobError("compression.qat.start_step", "must be ≥ 0, got \(startStep)") }
        guard observerMomentum > 0 && observerMomentum <= 1 else {
            throw JobError("compression.qat.observer_momentum", "must be in (0, 1], got \(observerMomentum)")
        }
        if let f = observerFreezeStep, f <= startStep {
            throw JobError("compression.qat.observer_freeze_step", "must be after start_step \(startStep), got \(f)")
        }
    }
}
