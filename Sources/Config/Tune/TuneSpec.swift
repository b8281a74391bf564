import Foundation
import Yams

/// The `tune:` section (of cluster.yaml, or of the file `cohort tune --space` names): which job keys to search,
/// how (random, grid or ASHA), and with what budget. Validated with the file, line and key of every mistake.
public struct TuneSpec: Codable, Sendable, Equatable {
    public enum Scheduler: String, ConfigEnum { case random, grid, asha }
    public enum BudgetUnit: String, ConfigEnum { case epochs, steps }
    /// How ASHA lets a trial go past a rung (the two variants of Li et al. 2020, named as syne-tune names them).
    /// `promotion`: the trial stops at every rung and a later free slot continues it once it is in the top 1/η of
    /// the rung's results. `stopping` (Ray Tune's `ASHAScheduler`): the trial trains on in one process, and at
    /// each rung it stops unless it is at least the rung's (1 − 1/η) quantile of the results recorded there so far.
    /// Stopping never pauses a good trial to wait for rivals, so the best one reaches max_budget sooner; it trains
    /// more epochs in all, as early trials pass rungs that nothing has filled yet.
    public enum ASHAType: String, ConfigEnum { case promotion, stopping }
    /// What a trial is judged by (a key of `cohort train`'s epoch lines). Searching on the test set reports a
    /// best that the search itself picked on that set; `validation_accuracy` keeps the test set out of the choice.
    public enum Metric: String, ConfigEnum {
        case testAccuracy = "test_accuracy"
        case testLoss = "test_loss"
        case validationAccuracy = "validation_accuracy"
        case validationLoss = "validation_loss"

        /// Accuracies are maximised, losses minimised.
        public var maximised: Bool { self == .testAccuracy || self == .validationAccuracy }
        public var needsValidationSet: Bool { self == .validationAccuracy || self == .validationLoss }
    }

    public var scheduler: Scheduler = .asha
    /// Configurations to sample (random, ASHA); a grid runs all its points.
    public var trials: Int = 16
    /// With the trial number, fixes every sampled configuration: a resumed study samples the same ones.
    public var seed: UInt64 = 1
    /// ASHA's reduction factor: the top 1/η of each rung is promoted to η times the budget.
    public var eta: Int = 3
    public var ashaType: ASHAType = .promotion
    public var metric: Metric = .testAccuracy
    public var unit: BudgetUnit = .epochs
    /// ASHA's smallest budget (rung 0); random and grid trials train `max_budget`.
    public var minBudget: Int = 1
    /// nil: the job's `epochs` (or `steps`).
    public var maxBudget: Int? = nil
    /// Values per continuous key in a grid.
    public var gridPoints: Int = 3
    /// GEMM threads of each trial process.
    public var threads: Int = 1
    /// Dotted job key (`optimizer.lr`, `batch_size`, `model.layers`) → its domain.
    public var space: [String: TuneDomain] = [:]

    public init() {}

    enum CodingKeys: String, CodingKey {
        case scheduler, trials, seed, eta, unit, threads, space, metric
        case minBudget = "min_budget"
        case maxBudget = "max_budget"
        case ashaType = "asha_type"
        case gridPoints = "grid_points"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        scheduler = try c.decodeIfPresent(Scheduler.self, forKey: .scheduler) ?? .asha
        trials = try c.decodeIfPresent(Int.self, forKey: .trials) ?? 16
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        eta = try c.decodeIfPresent(Int.self, forKey: .eta) ?? 3
        ashaType = try c.decodeIfPresent(ASHAType.self, forKey: .ashaType) ?? .promotion
        metric = try c.decodeIfPresent(Metric.self, forKey: .metric) ?? .testAccuracy
        unit = try c.decodeIfPresent(BudgetUnit.self, forKey: .unit) ?? .epochs
        minBudget = try c.decodeIfPresent(Int.self, forKey: .minBudget) ?? 1
        maxBudget = try c.decodeIfPresent(Int.self, forKey: .maxBudget)
        gridPoints = try c.decodeIfPresent(Int.self, forKey: .gridPoints) ?? 3
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? 1
        space = try c.decodeIfPresent([String: TuneDomain].self, forKey: .space) ?? [:]
    }

    /// The searched keys in a fixed order (sorted), so sampling does not depend on the YAML's order.
    public var keys: [String] { space.keys.sorted() }

    /// A metric as the schedulers rank it, higher better (a loss negated); nil stays nil (a failed run).
    public func score(_ metric: Double?) -> Double? { metric.map { self.metric.maximised ? $0 : -$0 } }
}

/// A document with an optional `tune:` key beside anything else (a cluster.yaml, or a file holding only `tune:`).
private struct TuneSection: Decodable {
    let tune: TuneSpec?

    struct AnyKey: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        tune = try c.decodeIfPresent(TuneSpec.self, forKey: AnyKey(stringValue: "tune"))
    }
}

extension TuneSpec {
    /// The `tune:` section of `path`, decoded strictly and validated against the base job, whose epochs (or steps)
    /// are an omitted `max_budget`. A file without `tune:` is an error naming it.
    public static func load(path: String, job: JobSpec) throws -> TuneSpec {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(file: path, line: nil, keyPath: "", message: "cannot read (\(error.localizedDescription))")
        }
        let root = try StrictYAMLDecoder.compose(text, file: path)
        guard var spec = try StrictYAMLDecoder().decode(TuneSection.self, from: root, file: path).tune else {
            throw ConfigError(file: path, line: nil, keyPath: "tune", message: "no tune: section")
        }
        if spec.maxBudget == nil { spec.maxBudget = spec.unit == .epochs ? job.epochs : job.steps }
        try spec.validate(job: job) { keyPath, message in
            let path0 = keyPath.split(separator: ".", maxSplits: 2).map { ConfigKey(stringValue: String($0)) }
            return ConfigError(
                file: path, line: StrictYAMLDecoder.line(of: path0, in: root), keyPath: keyPath, message: message)
        }
        return spec
    }

    /// Checks everything decoding cannot: an empty space, keys that are not job keys or take another type,
    /// bounds, η ≥ 2, budgets. `error(keyPath, message)` makes the one-line error.
    public func validate(job: JobSpec? = nil, _ error: (String, String) -> ConfigError) throws {
        if space.isEmpty { throw error("tune.space", "the search space is empty: name at least one job key") }
        for key in keys {
            guard let domain = space[key] else { continue }
            if let problem = domain.problem { throw error("tune.space.\(key)", problem) }
            if let problem = Self.jobKeyProblem(key, value: domain.sample(0.5)) {
                throw error("tune.space.\(key)", problem)
            }
        }
        if eta < 2 { throw error("tune.eta", "must be at least 2, got \(eta)") }
        if ashaType == .stopping, scheduler != .asha {
            throw error("tune.asha_type", "stopping is a kind of ASHA: it needs scheduler: asha")
        }
        if ashaType == .stopping, unit != .epochs {
            throw error("tune.asha_type", "stopping decides at the end of an epoch: it needs unit: epochs")
        }
        if metric.needsValidationSet, let job, job.data.validationFraction <= 0 {
            throw error("tune.metric", "\(metric.rawValue) needs a validation set: set job.data.validation_fraction > 0")
        }
        if ashaType == .stopping, job?.earlyStoppingPatience != nil {
            throw error(
                "tune.asha_type",
                "stopping is the trials' early stopping: a job with early_stopping_patience could end a trial before a rung's budget, leaving that rung without its result (remove one of the two)"
            )
        }
        if trials < 1 { throw error("tune.trials", "must be at least 1, got \(trials)") }
        if threads < 1 { throw error("tune.threads", "must be at least 1, got \(threads)") }
        if gridPoints < 1 { throw error("tune.grid_points", "must be at least 1, got \(gridPoints)") }
        if minBudget < 1 { throw error("tune.min_budget", "must be at least 1, got \(minBudget)") }
        guard let maxBudget else {
            throw error("tune.max_budget", "missing, and the job sets no \(unit.rawValue)")
        }
        if maxBudget < minBudget {
            throw error("tune.max_budget", "must be at least min_budget (\(minBudget)), got \(maxBudget)")
        }
    }

    /// Why `key` cannot take `value` in a `job:` section (not a job key, or the wrong type), or nil.
    public static func jobKeyProblem(_ key: String, value: TuneValue) -> String? {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.contains(where: { $0.isEmpty || !$0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }) {
            return "not a job key"
        }
        var yaml = "job:\n"
        for (depth, part) in parts.enumerated() {
            yaml += String(repeating: "  ", count: depth + 1) + part + ":"
            yaml += depth == parts.count - 1 ? " \(value.yaml)\n" : "\n"
        }
        do {
            _ = try JobSpec.parse(yaml: yaml, file: "<space>")
            return nil
        } catch let e as ConfigError {
            return e.message == "unknown key" ? "not a job key" : "not a valid value for job.\(key): \(e.message)"
        } catch {
            return "\(error)"
        }
    }
}
