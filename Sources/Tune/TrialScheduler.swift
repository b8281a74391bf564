import Config
import Foundation

/// Decides what runs next. Its state is exactly what the study file records (runs started, results), so replaying
/// the file rebuilds it: `markStarted` and `record` in file order, then `next` goes on where the study stopped.
public protocol TrialScheduler: Sendable {
    /// The next run to start, or nil when nothing can start until a running one reports (or ever).
    mutating func next() -> TrialRun?
    /// A run was started (by `next`, or found in the study file).
    mutating func markStarted(_ run: TrialRun)
    /// A run finished (under ASHA's stopping type: reached its rung's budget); a nil metric (a failed run) ranks
    /// below every other. Returns the run that goes on from it at once, in the same process (stopping type only).
    @discardableResult mutating func record(_ run: TrialRun, metric: Double?) -> TrialRun?
}

extension TuneSpec {
    /// ASHA's budgets: min·η^k for k < s, then max_budget, where s = ⌊log_η(max/min)⌋ (one rung: max only).
    public var rungBudgets: [Int] {
        let lo = max(1, minBudget)
        let hi = max(lo, maxBudget ?? lo)
        var budgets: [Int] = []
        var b = lo
        while b * eta <= hi {
            budgets.append(b)
            b *= eta
        }
        return budgets + [hi]
    }

    /// The scheduler this spec names, over `count` trials.
    public func makeScheduler(count: Int) -> any TrialScheduler {
        switch scheduler {
        case .asha: return ASHAScheduler(budgets: rungBudgets, eta: eta, trials: count, type: ashaType)
        case .random, .grid: return FlatScheduler(budget: maxBudget ?? 1, trials: count)
        }
    }
}

/// Random and grid search: every trial once, at the full budget, in trial order.
public struct FlatScheduler: TrialScheduler {
    public let budget: Int
    public let trials: Int
    private var nextTrial = 0

    public init(budget: Int, trials: Int) {
        self.budget = budget
        self.trials = trials
    }

    public mutating func next() -> TrialRun? {
        guard nextTrial < trials else { return nil }
        let run = TrialRun(trial: nextTrial, rung: 0, budget: budget)
        markStarted(run)
        return run
    }

    public mutating func markStarted(_ run: TrialRun) { nextTrial = max(nextTrial, run.trial + 1) }
    public mutating func record(_ run: TrialRun, metric: Double?) -> TrialRun? { nil }
}

/// Asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter Tuning", 2020).
/// Promotion type: whenever a slot is free, promote the best not-yet-promoted run that is in the top 1/η of its
/// rung (looking from the highest rung down), else start a new trial at rung 0. Stopping type: every free slot
/// starts a new trial, and a trial reaching a rung goes on unless it is below the rung's (1 − 1/η) quantile so far.
/// No rung waits for stragglers.
public struct ASHAScheduler: TrialScheduler {
    public let budgets: [Int]
    public let eta: Int
    public let trials: Int
    public let type: TuneSpec.ASHAType
    private var nextTrial = 0
    /// results[k][trial]: the score at rung k, higher better (`TuneSpec.score`; -∞ for a failed run).
    private var results: [[Int: Double]]
    /// promoted[k]: trials of rung k already started at rung k + 1.
    private var promoted: [Set<Int>]

    public init(budgets: [Int], eta: Int, trials: Int, type: TuneSpec.ASHAType = .promotion) {
        self.budgets = budgets
        self.eta = eta
        self.trials = trials
        self.type = type
        results = Array(repeating: [:], count: budgets.count)
        promoted = Array(repeating: [], count: budgets.count)
    }

    public mutating func next() -> TrialRun? {
        for k in stride(from: budgets.count - 2, through: 0, by: -1) where type == .promotion {
            if let trial = promotable(rung: k) {
                let run = TrialRun(trial: trial, rung: k + 1, budget: budgets[k + 1])
                markStarted(run)
                return run
            }
        }
        guard nextTrial < trials else { return nil }
        let run = TrialRun(trial: nextTrial, rung: 0, budget: budgets[0])
        markStarted(run)
        return run
    }

    /// The best run of rung `k` in its top ⌊n/η⌋ not yet promoted (ties: the lower trial number).
    func promotable(rung k: Int) -> Int? {
        let ranked = results[k].sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        let top = ranked.prefix(ranked.count / eta)
        return top.first { $0.value.isFinite && !promoted[k].contains($0.key) }?.key
    }

    public mutating func markStarted(_ run: TrialRun) {
        nextTrial = max(nextTrial, run.trial + 1)
        if run.rung > 0, run.rung - 1 < promoted.count { promoted[run.rung - 1].insert(run.trial) }
    }

    public mutating func record(_ run: TrialRun, metric: Double?) -> TrialRun? {
        guard run.rung < results.count else { return nil }
        let cutoff = stoppingCutoff(rung: run.rung)
        results[run.rung][run.trial] = metric ?? -.infinity
        guard type == .stopping, run.rung + 1 < budgets.count, let metric, metric.isFinite else { return nil }
        if let cutoff, metric < cutoff { return nil }
        return TrialRun(trial: run.trial, rung: run.rung + 1, budget: budgets[run.rung + 1])
    }

    /// Ray Tune's cutoff: the (1 − 1/η) quantile, linearly interpolated as numpy's `nanpercentile`, of the finite
    /// results recorded at rung `k` so far; nil when there are none (the first trial to reach a rung goes on).
    public func stoppingCutoff(rung k: Int) -> Double? {
        let values = results[k].values.filter(\.isFinite).sorted()
        guard let first = values.first else { return nil }
        let position = (1 - 1 / Double(eta)) * Double(values.count - 1)
        let below = Int(position.rounded(.down))
        let above = min(below + 1, values.count - 1)
        let fraction = position - Double(below)
        return values.count == 1 ? first : values[below] + (values[above] - values[below]) * fraction
    }
}
