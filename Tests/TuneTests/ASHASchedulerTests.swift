import Config
import Foundation
import Testing
import Tune

@Suite struct ASHASchedulerTests {
    /// Trial qualities: the synthetic objective is quality × budget / 9, so a trial's rank is the same at every rung.
    static let quality: [Double] = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4]

    /// η = 3, budgets 1/3/9, 9 trials, one slot (runs finish in the order they start). By hand, after each result:
    /// rung 0 has n results and promotes its top ⌊n/3⌋ not yet promoted, checked from the top rung down:
    /// t0 t1 t2 (n=3: top 1 = t1 → rung 1), t3 (n=4 top {t1}), t4, t5 (n=6: top {t1, t5} → t5 to rung 1), t6, t7,
    /// t8 (n=9: top {t1, t5, t3} → t3 to rung 1; then rung 1 has n=3: top {t1} → t1 to rung 2), then nothing.
    @Test func promotionsMatchAHandComputedSchedule() throws {
        let expected: [(Int, Int)] = [
            (0, 0), (1, 0), (2, 0), (1, 1), (3, 0), (4, 0), (5, 0), (5, 1), (6, 0), (7, 0), (8, 0), (3, 1), (1, 2),
        ]
        var scheduler = ASHAScheduler(budgets: [1, 3, 9], eta: 3, trials: 9)
        var seen: [(Int, Int)] = []
        while let run = scheduler.next() {
            seen.append((run.trial, run.rung))
            #expect(run.budget == [1, 3, 9][run.rung])
            _ = scheduler.record(run, metric: Self.quality[run.trial] * Double(run.budget) / 9)
        }
        #expect(seen.map { "\($0.0)/\($0.1)" } == expected.map { "\($0.0)/\($0.1)" })
    }

    /// The same schedule through the whole runner (study file, one slot), with a synthetic launcher.
    @Test func runnerFollowsTheSchedule() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = sampleSpec()
        let launcher = SyntheticLauncher { run, _ in Self.quality[run.trial] * Double(run.budget) / 9 }
        let file = try StudyFile(path: dir + "/study.jsonl", spec: spec)
        #expect(try StudyRunner(spec: spec, file: file, launcher: launcher, slots: 1).run())
        #expect(
            launcher.runs.map { "\($0.trial)/\($0.rung)" }.joined(separator: " ")
                == "0/0 1/0 2/0 1/1 3/0 4/0 5/0 5/1 6/0 7/0 8/0 3/1 1/2")
        #expect(file.results.count == 13)
    }

    /// A failed run (nil metric) is never promoted, even when it is the only result in the top 1/η.
    @Test func failedRunsAreNotPromoted() {
        var scheduler = ASHAScheduler(budgets: [1, 3], eta: 3, trials: 3)
        for t in 0..<3 {
            let run = scheduler.next()
            #expect(run?.trial == t)
            if let run { _ = scheduler.record(run, metric: t == 0 ? nil : -1) }
        }
        // Top 1 of rung 0 is trial 1 (-1 > failed -∞; ties broken by trial number: 1 before 2).
        #expect(scheduler.next() == TrialRun(trial: 1, rung: 1, budget: 3))
        #expect(scheduler.next() == nil)
    }

    @Test func rungBudgets() {
        var spec = TuneSpec()
        (spec.minBudget, spec.maxBudget, spec.eta) = (1, 9, 3)
        #expect(spec.rungBudgets == [1, 3, 9])
        (spec.minBudget, spec.maxBudget, spec.eta) = (1, 10, 3)
        #expect(spec.rungBudgets == [1, 3, 10])
        (spec.minBudget, spec.maxBudget, spec.eta) = (2, 5, 3)
        #expect(spec.rungBudgets == [5])
        (spec.minBudget, spec.maxBudget, spec.eta) = (100, 1600, 2)
        #expect(spec.rungBudgets == [100, 200, 400, 800, 1600])
    }

    /// Random search: the same seed gives the same configurations; log-uniform draws stay in range.
    @Test func samplingIsAFunctionOfSeedAndTrial() {
        let a = TrialConfigs(spec: sampleSpec(scheduler: .random, trials: 50))
        let b = TrialConfigs(spec: sampleSpec(scheduler: .random, trials: 50))
        var logs: [Double] = []
        for t in 0..<50 {
            #expect(a.config(t) == b.config(t))
            guard case .double(let lr) = a.config(t)["optimizer.lr"] else {
                Issue.record("lr is not a double")
                continue
            }
            #expect(lr >= 0.001 && lr <= 0.5)
            logs.append(log(lr))
        }
        #expect(Set((0..<50).map { a.config($0)["batch_size"]! }).count == 3)
        // Log-uniform: about half the draws below the geometric midpoint.
        let below = logs.filter { $0 < (log(0.001) + log(0.5)) / 2 }.count
        #expect(below > 12 && below < 38)
    }

    @Test func gridIsTheCartesianProduct() {
        var spec = sampleSpec(scheduler: .grid)
        spec.gridPoints = 2
        let grid = TrialConfigs(spec: spec)
        #expect(grid.count == 6)
        let lrs = Set((0..<6).compactMap { grid.config($0)["optimizer.lr"]?.number })
        #expect(lrs.count == 2)
        #expect(lrs.contains { abs($0 - 0.001) < 1e-12 } && lrs.contains { abs($0 - 0.5) < 1e-12 })
    }
}
