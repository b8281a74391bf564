/// The outer optimizer of local SGD / DiLoCo: the step it takes with the replicas' averaged pseudo-gradient.
public enum OuterOptimizerName: String, ConfigEnum {
    case sgd
    case nesterov
}

/// What crosses the network at a synchronisation: the pseudo-gradient in fp32 or bf16.
public enum SyncPrecision: String, ConfigEnum {
    case float32 = "fp32"
    case bfloat16 = "bf16"
}

/// `parallelism.sync:` — local SGD / DiLoCo (Douillard et al., 2023). Every replica takes `every_steps` (H) optimizer
/// steps on its own rows without talking, then the replicas average the pseudo-gradient Δ = θ_start − θ_local and
/// take one outer step from θ_start: SGD (θ ← θ − lr·Δ) or Nesterov momentum (m ← μm + Δ; θ ← θ − lr·(Δ + μm)).
/// The network carries one parameter-sized all-reduce every H steps instead of one per step.
public struct SyncSpec: Codable, Sendable, Equatable {
    public var everySteps: Int
    public var outerOptimizer: OuterOptimizerName
    public var outerLR: Float
    public var outerMomentum: Float
    public var precision: SyncPrecision

    /// Plain local SGD (outer SGD at lr 1: the replicas' weights averaged). DiLoCo's published outer settings,
    /// Nesterov at lr 0.7 and momentum 0.9, are tuned for H ≈ 500 inner AdamW steps; with W1's inner SGD momentum and
    /// H = 8 they amplified each period's step about sevenfold and the run ended at test accuracy 0.10 (chance), so
    /// they are asked for, not assumed.
    public enum Defaults {
        public static let outerOptimizer = OuterOptimizerName.sgd
        public static let outerLR: Float = 1
        public static let outerMomentum: Float = 0
        public static let precision = SyncPrecision.float32
    }

    public init(
        everySteps: Int, outerOptimizer: OuterOptimizerName = Defaults.outerOptimizer, outerLR: Float = Defaults.outerLR,
        outerMomentum: Float = Defaults.outerMomentum, precision: SyncPrecision = Defaults.precision
    ) {
        self.everySteps = everySteps
        self.outerOptimizer = outerOptimizer
        self.outerLR = outerLR
        self.outerMomentum = outerMomentum
        self.precision = precision
    }

    enum CodingKeys: String, CodingKey {
        case everySteps = "every_steps"
        case outerOptimizer = "outer_optimizer"
        case outerLR = "outer_lr"
        case outerMomentum = "outer_momentum"
        case precision
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        everySteps = try c.decode(Int.self, forKey: .everySteps)
        outerOptimizer = try c.decode(.outerOptimizer, default: Defaults.outerOptimizer)
        outerLR = try c.decode(.outerLR, default: Defaults.outerLR)
        outerMomentum = try c.decode(.outerMomentum, default: Defaults.outerMomentum)
        precision = try c.decode(.precision, default: Defaults.precision)
    }

    /// Each problem as (key under `parallelism.sync`, message).
    public func issues(pipelineStages: Int) -> [(key: String, message: String)] {
        var out: [(String, String)] = []
        if everySteps < 1 { out.append(("every_steps", "must be at least 1, got \(everySteps)")) }
        if !(outerLR.isFinite && outerLR > 0 && outerLR <= 10) {
            out.append(("outer_lr", "must be a number in (0, 10], got \(outerLR)"))
        }
        if !(outerMomentum.isFinite && outerMomentum >= 0 && outerMomentum < 1) {
            out.append(("outer_momentum", "must be in [0, 1), got \(outerMomentum)"))
        }
        if pipelineStages > 1 {
            out.append(("every_steps", "local SGD runs data-parallel replicas only, not with pipeline_stages \(pipelineStages)"))
        }
        return out
    }
}
