/// The `compression:` part of a job: gradual magnitude pruning during training (Zhu & Gupta 2017). From
/// `start_step` the sparsity of the Dense weights rises from `initial_sparsity` to `sparsity` on a cubic schedule
/// over `steps` steps, masks recomputed every `interval` steps and held (gradients and weights) after every update;
/// the steps after that fine-tune with the final mask. `scope`: global (all Dense kernels ranked together) or layer.
public struct CompressionSpec: Codable, Sendable, Equatable {
    public var sparsity: Double
    public var initialSparsity: Double = 0
    public var startStep: Int = 0
    public var steps: Int = 1000
    public var interval: Int = 10
    public var scope: String = "global"

    public init(sparsity: Double) { self.sparsity = sparsity }

    enum CodingKeys: String, CodingKey {
        case sparsity
        case initialSparsity = "initial_sparsity"
        case startStep = "start_step"
        case steps, interval, scope
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sparsity = try c.decode(Double.self, forKey: .sparsity)
        initialSparsity = try c.decodeIfPresent(Double.self, forKey: .initialSparsity) ?? initialSparsity
        startStep = try c.decodeIfPresent(Int.self, forKey: .startStep) ?? startStep
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? steps
        interval = try c.decodeIfPresent(Int.self, forKey: .interval) ?? interval
        scope = try c.decodeIfPresent(String.self, forKey: .scope) ?? scope
    }

    func validate() throws {
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
