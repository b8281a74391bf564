/// The `job:` section shared by `cohort train` and cluster.yaml: what to train and how.
/// YAML keys are snake_case (CodingKeys below). Every field has a default so a job section may be partial;
/// `--workload W1|W2` fills in a whole recipe, and single flags override single fields.
public struct JobSpec: Codable, Sendable, Equatable {
    public var workload: String? = nil
    public var model = ModelSpec()
    public var optimizer = OptimizerSpec()
    public var schedule = ScheduleSpec()
    public var regularization = RegularizationSpec()
    public var data = DataSpec()
    public var epochs: Int = 10
    /// When set, train for this many optimizer steps instead of whole epochs (benchmarks).
    public var steps: Int? = nil
    public var batchSize: Int = 128
    public var seed: UInt64 = 1
    public var earlyStoppingPatience: Int? = nil

    public init() {}

    enum CodingKeys: String, CodingKey {
        case workload, model, optimizer, schedule, regularization, data, epochs, steps
        case batchSize = "batch_size", seed, earlyStoppingPatience = "early_stopping_patience"
    }
}

public struct ModelSpec: Codable, Sendable, Equatable {
    /// Layer widths including input and output, e.g. [784, 256, 128, 10].
    public var layers: [Int] = [784, 256, 128, 10]
    /// relu | sigmoid | tanh
    public var activation: String = "relu"
    public var dropout: Float = 0
    /// uniform | normal | xavier_uniform | xavier_normal | he_uniform | he_normal
    public var initializer: String = "he_normal"
    public init() {}
    enum CodingKeys: String, CodingKey { case layers, activation, dropout, initializer = "init" }
}

public struct OptimizerSpec: Codable, Sendable, Equatable {
    /// sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw
    public var name: String = "momentum"
    public var lr: Float = 0.05
    public var momentum: Float = 0.9
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    /// Decoupled weight decay (AdamW).
    public var weightDecay: Float = 0
    public init() {}
    enum CodingKeys: String, CodingKey { case name, lr, momentum, beta1, beta2, eps, weightDecay = "weight_decay" }
}

public struct ScheduleSpec: Codable, Sendable, Equatable {
    /// constant | step | cosine
    public var name: String = "constant"
    public var warmupSteps: Int = 0
    public var stepSize: Int = 1000
    public var gamma: Float = 0.1
    public var minLR: Float = 0
    public init() {}
    enum CodingKeys: String, CodingKey {
        case name, warmupSteps = "warmup_steps", stepSize = "step_size", gamma, minLR = "min_lr"
    }
}

public struct RegularizationSpec: Codable, Sendable, Equatable {
    public var l1: Float = 0
    public var l2: Float = 0
    /// Clip gradients by global norm when set.
    public var clipNorm: Float? = nil
    public init() {}
    enum CodingKeys: String, CodingKey { case l1, l2, clipNorm = "clip_norm" }
}

public struct DataSpec: Codable, Sendable, Equatable {
    /// fashion-mnist | synthetic | csv
    public var dataset: String = "fashion-mnist"
    /// Folder of the IDX files (fashion-mnist) or the CSV file (csv).
    public var path: String? = nil
    /// Standardise inputs with the training set's global mean and standard deviation.
    public var standardize: Bool = true
    public var validationFraction: Float = 0
    /// Fall back to synthetic data when the data set is missing.
    public var syntheticFallback: Bool = true
    public init() {}
    enum CodingKeys: String, CodingKey {
        case dataset, path, standardize, validationFraction = "validation_fraction", syntheticFallback = "synthetic_fallback"
    }
}
