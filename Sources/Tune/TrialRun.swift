import Config
import Foundation

/// One unit of work: trial `trial` (one configuration) trained to `budget` epochs or steps, at ASHA rung `rung`
/// (always 0 for random and grid search).
public struct TrialRun: Hashable, Sendable, Codable {
    public var trial: Int
    public var rung: Int
    public var budget: Int

    public init(trial: Int, rung: Int, budget: Int) {
        self.trial = trial
        self.rung = rung
        self.budget = budget
    }
}

/// What a finished run reports: the metric (test accuracy; nil when the run failed) and its wall time.
public struct TrialOutcome: Sendable, Equatable {
    public var metric: Double?
    public var seconds: Double
    public var error: String?
    /// The step the run continued from (a promoted trial resumed from its previous rung's state); nil: from zero.
    public var resumedFromStep: Int?

    public init(metric: Double?, seconds: Double, error: String? = nil, resumedFromStep: Int? = nil) {
        self.metric = metric
        self.seconds = seconds
        self.error = error
        self.resumedFromStep = resumedFromStep
    }
}

/// A configuration: dotted job key → value.
public typealias TrialConfig = [String: TuneValue]

/// The configuration of each trial number, a pure function of the spec (seed, space, scheduler): a resumed
/// study, or one run on other machines, gives trial 7 the same values. Nothing to save, nothing to lose.
public struct TrialConfigs: Sendable {
    public let spec: TuneSpec
    private let grid: [TrialConfig]

    public init(spec: TuneSpec) {
        self.spec = spec
        grid = spec.scheduler == .grid ? Self.makeGrid(spec) : []
    }

    /// Trials the study runs: every grid point, or `trials` samples.
    public var count: Int { spec.scheduler == .grid ? grid.count : spec.trials }

    public func config(_ trial: Int) -> TrialConfig {
        if spec.scheduler == .grid { return grid[trial] }
        var rng = TuneRandom(seed: spec.seed, stream: UInt64(trial))
        var config: TrialConfig = [:]
        for key in spec.keys {
            if let domain = spec.space[key] { config[key] = domain.sample(rng.nextUnit()) }
        }
        return config
    }

    /// The Cartesian product of each key's grid values, the last key varying fastest.
    static func makeGrid(_ spec: TuneSpec) -> [TrialConfig] {
        var points: [TrialConfig] = [[:]]
        for key in spec.keys {
            guard let values = spec.space[key]?.gridValues(points: spec.gridPoints) else { continue }
            points = points.flatMap { p in values.map { v in p.merging([key: v]) { $1 } } }
        }
        return points
    }
}

/// SplitMix64 (Steele et al. 2014): one independent stream per (seed, trial).
public struct TuneRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64, stream: UInt64) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 ^ (stream &+ 1) &* 0xD1B5_4A32_D192_ED03
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
