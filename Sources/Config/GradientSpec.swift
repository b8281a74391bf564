/// How the data-parallel gradient is compressed on the wire.
public enum GradientCompression: String, ConfigEnum {
    case none
    case bf16
    case fp16
    case powersgd
    case topk
}

/// `parallelism.gradient:` — gradient compression for data-parallel training (PyTorch DDP's communication hooks,
/// Deep Gradient Compression). Every method keeps the replicas bitwise identical.
public struct GradientSpec: Codable, Sendable, Equatable {
    public var compression: GradientCompression
    /// PowerSGD's rank r.
    public var rank: Int
    /// Top-k's share of each bucket sent per step, in (0, 1].
    public var density: Double
    /// Keep what compression dropped and add it to the next step's gradient.
    public var errorFeedback: Bool
    /// Plain fp32 sums for the first N steps (PowerSGD's warm-up: compression starts once training settles).
    public var startStep: Int

    public enum Defaults {
        public static let compression = GradientCompression.none
        public static let rank = 4
        public static let density = 0.01
        public static let errorFeedback = true
        public static let startStep = 0
    }

    public init(
        compression: GradientCompression = Defaults.compression, rank: Int = Defaults.rank,
        density: Double = Defaults.density, errorFeedback: Bool = Defaults.errorFeedback,
        startStep: Int = Defaults.startStep
    ) {
        self.compression = compression
        self.rank = rank
        self.density = density
        self.errorFeedback = errorFeedback
        self.startStep = startStep
    }

    enum CodingKeys: String, CodingKey {
        case compression, rank, density
        case errorFeedback = "error_feedback"
        case startStep = "start_step"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        compression = try c.decode(.compression, default: Defaults.compression)
        rank = try c.decode(.rank, default: Defaults.rank)
        density = try c.decode(.density, default: Defaults.density)
        errorFeedback = try c.decode(.errorFeedback, default: Defaults.errorFeedback)
        startStep = try c.decode(.startStep, default: Defaults.startStep)
    }

    /// Each problem as (key under `parallelism.gradient`, message).
    public func issues(pipelineStages: Int, localSGD: Bool) -> [(key: String, message: String)] {
        var out: [(String, String)] = []
        if !(1...1024).contains(rank) { out.append(("rank", "must be within 1...1024, got \(rank)")) }
        if !(density.isFinite && density > 0 && density <= 1) {
            out.append(("density", "must be in (0, 1], got \(density)"))
        }
        if startStep < 0 { out.append(("start_step", "must not be negative, got \(startStep)")) }
        if compression != .none && pipelineStages > 1 {
            out.append(("compression", "applies to data-parallel replicas only, not with pipeline_stages \(pipelineStages)"))
        }
        if compression != .none && localSGD {
            out.append(("compression", "local SGD (parallelism.sync) sends its own pseudo-gradient; use sync.precision"))
        }
        return out
    }
}
