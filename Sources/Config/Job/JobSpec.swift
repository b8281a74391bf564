/// The `job:` section shared by `cohort train` and cluster.yaml: what to train and how.
/// YAML keys are snake_case (CodingKeys below). Every field has a default so a job section may be partial.
///
/// Precedence (lowest first): the defaults below → the recipe named by `workload` (W1, W2) → the keys present in
/// the YAML section → single command-line flags. Decoding implements the middle two: it starts from the recipe
/// when `workload` is given, and each key present overrides one field (`decodeIfPresent`), in nested sections too.
public struct JobSpec: Codable, Sendable, Equatable {
    public var workload: String? = nil
    public var model = ModelSpec()
    public var optimizer = OptimizerSpec()
    public var schedule = ScheduleSpec()
    public var regularization = RegularizationSpec()
    public var data = DataSpec()
    public var epochs: Int = 10
    /// When set, train for this many optimizer steps instead of whole epochs (benchmarks, W2).
    public var steps: Int? = nil
    /// The GLOBAL batch: data-parallel replicas each take batch_size / replicas rows of it.
    public var batchSize: Int = 128
    public var seed: UInt64 = 1
    /// Stop when the validation loss has not improved for this many epochs, and restore the best weights
    /// (needs data.validation_fraction > 0).
    public var earlyStoppingPatience: Int? = nil
    /// What a NaN or ∞ loss or gradient norm does: `stop` the job at that step (the default), or `skip_step`,
    /// dropping that step's update on every rank alike and counting it.
    public var onDivergence: String = "stop"
    /// Knowledge distillation from a trained teacher (`distillation: {teacher, temperature, alpha}`); nil: none.
    public var distillation: DistillationSpec? = nil
    /// Pruning during training (`compression: {sparsity, start_step, steps, interval, scope}`); nil: none.
    public var compression: CompressionSpec? = nil

    public init() {}

    enum CodingKeys: String, CodingKey {
        case workload, model, optimizer, schedule, regularization, data, epochs, steps
        case batchSize = "batch_size"
        case seed
        case earlyStoppingPatience = "early_stopping_patience"
        case onDivergence = "on_divergence"
        case distillation, compression
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let name = try c.decodeIfPresent(String.self, forKey: .workload) {
            guard let recipe = JobSpec.recipe(named: name) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .workload, in: c,
                    debugDescription: "expected one of \(JobSpec.workloadNames.joined(separator: ", ")), got \"\(name)\"")
            }
            self = recipe
        } else {
            self.init()
        }
        if c.contains(.model) { try model.overlay(from: c.superDecoder(forKey: .model)) }
        if c.contains(.optimizer) { try optimizer.overlay(from: c.superDecoder(forKey: .optimizer)) }
        if c.contains(.schedule) { try schedule.overlay(from: c.superDecoder(forKey: .schedule)) }
        if c.contains(.regularization) { try regularization.overlay(from: c.superDecoder(forKey: .regularization)) }
        if c.contains(.data) { try data.overlay(from: c.superDecoder(forKey: .data)) }
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? steps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        earlyStoppingPatience = try c.decodeIfPresent(Int.self, forKey: .earlyStoppingPatience) ?? earlyStoppingPatience
        onDivergence = try c.decodeIfPresent(String.self, forKey: .onDivergence) ?? onDivergence
        distillation = try c.decodeIfPresent(DistillationSpec.self, forKey: .distillation) ?? distillation
        compression = try c.decodeIfPresent(CompressionSpec.self, forKey: .compression) ?? compression
    }
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
    enum CodingKeys: String, CodingKey {
        case name, lr, momentum, beta1, beta2, eps
        case weightDecay = "weight_decay"
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        try overlay(from: decoder)
    }

    mutating func overlay(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? name
        lr = try c.decodeIfPresent(Float.self, forKey: .lr) ?? lr
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum) ?? momentum
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? beta2
        eps = try c.decodeIfPresent(Float.self, forKey: .eps) ?? eps
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? weightDecay
    }
}

public struct ScheduleSpec: Codable, Sendable, Equatable {
    /// constant | step | cosine (cosine decays from lr to min_lr over the whole run)
    public var name: String = "constant"
    /// Linear warm-up steps before the schedule proper.
    public var warmupSteps: Int = 0
    /// step: multiply by gamma every step_size optimizer steps.
    public var stepSize: Int = 1000
    public var gamma: Float = 0.1
    public var minLR: Float = 0
    public init() {}
    enum CodingKeys: String, CodingKey {
        case name
        case warmupSteps = "warmup_steps"
        case stepSize = "step_size"
        case gamma
        case minLR = "min_lr"
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        try overlay(from: decoder)
    }

    mutating func overlay(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? name
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? warmupSteps
        stepSize = try c.decodeIfPresent(Int.self, forKey: .stepSize) ?? stepSize
        gamma = try c.decodeIfPresent(Float.self, forKey: .gamma) ?? gamma
        minLR = try c.decodeIfPresent(Float.self, forKey: .minLR) ?? minLR
    }
}

public struct RegularizationSpec: Codable, Sendable, Equatable {
    public var l1: Float = 0
    /// Coupled L2 (added to the gradient as l2·w, PyTorch's weight_decay for SGD).
    public var l2: Float = 0
    /// Clip gradients by global norm when set.
    public var clipNorm: Float? = nil
    public init() {}
    enum CodingKeys: String, CodingKey {
        case l1, l2
        case clipNorm = "clip_norm"
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        try overlay(from: decoder)
    }

    mutating func overlay(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        l1 = try c.decodeIfPresent(Float.self, forKey: .l1) ?? l1
        l2 = try c.decodeIfPresent(Float.self, forKey: .l2) ?? l2
        clipNorm = try c.decodeIfPresent(Float.self, forKey: .clipNorm) ?? clipNorm
    }
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
    /// Skip each epoch's last, short global batch (DistributedSampler(drop_last=True)); by default it is trained on.
    public var dropLast: Bool = false
    /// Use at most this many training (and test) examples: the first ones of a file, or how many synthetic examples
    /// to generate (default 60,000 and 10,000). For quick runs and tests.
    public var maxTrainExamples: Int? = nil
    public var maxTestExamples: Int? = nil
    public init() {}
    enum CodingKeys: String, CodingKey {
        case dataset, path, standardize
        case validationFraction = "validation_fraction"
        case syntheticFallback = "synthetic_fallback"
        case dropLast = "drop_last"
        case maxTrainExamples = "max_train_examples"
        case maxTestExamples = "max_test_examples"
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        try overlay(from: decoder)
    }

    mutating func overlay(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dataset = try c.decodeIfPresent(String.self, forKey: .dataset) ?? dataset
        path = try c.decodeIfPresent(String.self, forKey: .path) ?? path
        standardize = try c.decodeIfPresent(Bool.self, forKey: .standardize) ?? standardize
        validationFraction = try c.decodeIfPresent(Float.self, forKey: .validationFraction) ?? validationFraction
        syntheticFallback = try c.decodeIfPresent(Bool.self, forKey: .syntheticFallback) ?? syntheticFallback
        dropLast = try c.decodeIfPresent(Bool.self, forKey: .dropLast) ?? dropLast
        maxTrainExamples = try c.decodeIfPresent(Int.self, forKey: .maxTrainExamples) ?? maxTrainExamples
        maxTestExamples = try c.decodeIfPresent(Int.self, forKey: .maxTestExamples) ?? maxTestExamples
    }
}
