import Config
import Foundation
import Testing
import Tune

/// ASHA's stopping type (`tune.asha_type: stopping`, Ray Tune's rule): a trial trains on through its rungs and
/// stops at one where it is below the (1 − 1/η) quantile of the results recorded there before it.
@Suite struct ASHAStoppingTests {
    /// η = 3, budgets 1/3/9, one slot. By hand, numpy's linear-interpolated 66.7th percentile of the rung's earlier
    /// results is the cutoff; the first trial at a rung always goes on:
    /// rung 0: t0 0.5 (none before: on), t1 0.4 (cutoff 0.5: stop), t2 0.6 (of [0.4, 0.5]: 0.4667, on),
    /// t3 0.45 (of [0.4, 0.5, 0.6]: 0.5333, stop); afterwards the cutoff of [0.4, 0.45, 0.5, 0.6] is at position 2:
    /// 0.5. Rung 1: t0 0.7 first (on), t2 0.69 (cutoff 0.7: stop); the last rung decides nothing.
    @Test func decisionsMatchAHandComputedCutoff() {
        var scheduler = ASHAScheduler(budgets: [1, 3, 9], eta: 3, trials: 4, type: .stopping)
        let metrics = [0.5, 0.4, 0.6, 0.45]
        var goesOn: [Bool] = []
        for t in 0..<4 {
            let run = scheduler.next()
            #expect(run == TrialRun(trial: t, rung: 0, budget: 1), "the stopping type only starts new trials")
            guard let run else { return }
            goesOn.append(scheduler.record(run, metric: metrics[t]) == TrialRun(trial: t, rung: 1, budget: 3))
        }
        #expect(goesOn == [true, false, true, false])
        #expect(abs((scheduler.stoppingCutoff(rung: 0) ?? 0) - 0.5) < 1e-12, "position 2 of 4 sorted results")
        #expect(scheduler.next() == nil)
        #expect(scheduler.record(TrialRun(trial: 0, rung: 1, budget: 3), metric: 0.7) == TrialRun(trial: 0, rung: 2, budget: 9))
        #expect(scheduler.record(TrialRun(trial: 2, rung: 1, budget: 3), metric: 0.69) == nil)
        #expect(scheduler.record(TrialRun(trial: 0, rung: 2, budget: 9), metric: 0.9) == nil)
    }

    /// A failed run never goes on, and does not move the cutoff.
    @Test func failedRunsStop() {
        var scheduler = ASHAScheduler(budgets: [1, 3], eta: 2, trials: 2, type: .stopping)
        #expect(scheduler.record(TrialRun(trial: 0, rung: 0, budget: 1), metric: nil) == nil)
        #expect(scheduler.stoppingCutoff(rung: 0) == nil)
        #expect(scheduler.record(TrialRun(trial: 1, rung: 0, budget: 1), metric: 0.1) == TrialRun(trial: 1, rung: 1, budget: 3))
    }

    static func stoppingSpec(trials: Int) -> TuneSpec {
        var spec = sampleSpec(trials: trials)
        spec.ashaType = .stopping
        return spec
    }

    static let metric: @Sendable (TrialRun, TrialConfig) -> Double = { run, config in
        let lr = config["optimizer.lr"]?.number ?? 0
        return 1 - abs(log(lr) - log(0.05)) / Double(run.budget)
    }

    /// Through the runner with two slots: every result after rung 0 follows its trial's result one rung below, each
    /// went on exactly when the rule says, and every run that went on has its start in the file.
    @Test func runnerGoesOnExactlyWhenTheRuleSays() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = Self.stoppingSpec(trials: 12)
        let file = try StudyFile(path: dir + "/study.jsonl", spec: spec)
        #expect(try StudyRunner(spec: spec, file: file, launcher: SyntheticLauncher(metric: Self.metric), slots: 2).run())
        let budgets = spec.rungBudgets
        var replayed = ASHAScheduler(budgets: budgets, eta: spec.eta, trials: spec.trials, type: .stopping)
        var started = Set<TrialRun>()
        var expectedStarts = Set<TrialRun>()
        for record in file.records {
            guard let run = record.run else { continue }
            if record.event == "start" { started.insert(run) }
            if record.event == "result" {
                #expect(started.contains(run), "result without start: \(run)")
                if let next = replayed.record(run, metric: record.metric) { expectedStarts.insert(next) }
            }
        }
        #expect(Set(started.filter { $0.rung > 0 }) == expectedStarts)
        #expect(Set(file.results.filter { $0.rung == 0 }.compactMap(\.trial)) == Set(0..<12))
        #expect(file.results.contains { $0.rung == budgets.count - 1 }, "some trial reached max_budget")
        #expect(file.results.count < 12 * budgets.count, "some trial was stopped")
    }

    /// Killed after k results (the last one's decision taken but not started), then resumed: the same results as
    /// an uninterrupted study, and no run twice.
    @Test(arguments: [1, 3, 7]) func killAndResumeGivesTheSameTrials(stopAfter: Int) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = Self.stoppingSpec(trials: 9)
        let whole = try StudyFile(path: dir + "/whole.jsonl", spec: spec)
        #expect(try StudyRunner(spec: spec, file: whole, launcher: SyntheticLauncher(metric: Self.metric), slots: 1).run())
        let path = dir + "/killed.jsonl"
        do {
            let file = try StudyFile(path: path, spec: spec)
            let runner = StudyRunner(spec: spec, file: file, launcher: SyntheticLauncher(metric: Self.metric), slots: 1)
            runner.stopAfterResults = stopAfter
            #expect(try runner.run() == false)
        }
        let resumed = try StudyFile(path: path, spec: spec)
        let launcher = SyntheticLauncher(metric: Self.metric)
        #expect(try StudyRunner(spec: spec, file: resumed, launcher: launcher, slots: 1).run())
        #expect(resultSet(resumed) == resultSet(whole))
        #expect(launcher.runs.count == whole.results.count - stopAfter)
    }

    /// A trial process (here a script in place of `cohort train`) that prints epoch 1 and then would train for
    /// 30 s (`exec sleep 30`: one process, as `cohort train` is): its epoch line reaches `reached` as it is printed, and a nil answer stops the process at once.
    @Test func theProcessIsStoppedAtItsRung() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = dir + "/fake-train"
        func writeScript(pause: String) throws {
            let lines = [
                "#!/bin/sh", "echo '{\"event\":\"epoch\",\"epoch\":1,\"test_accuracy\":0.5}'", pause,
                "echo '{\"event\":\"epoch\",\"epoch\":3,\"test_accuracy\":0.7}'",
            ]
            try (lines.joined(separator: "\n") + "\n").write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
        }
        try writeScript(pause: "exec sleep 30")
        let launcher = TrialProcesses(
            executable: script, slots: [TrialSlot(address: "127.0.0.1", index: 0)],
            jobFile: TrialJobFile(base: nil, unit: .epochs), directory: dir, threads: 1)
        launcher.scheduleHorizon = 3
        let start = Date()
        var seen: [String] = []
        launcher.runOn(TrialRun(trial: 0, rung: 0, budget: 1), config: [:], slot: 0) { run, outcome in
            seen.append("\(run.rung):\(outcome.metric ?? -1)")
            return nil
        }
        #expect(seen == ["0:0.5"])
        #expect(Date().timeIntervalSince(start) < 10, "the process was stopped, not waited for")
        // Going on: the next rung's budget (3) is met by the later line, and the process's end ends the trial.
        try writeScript(pause: "")
        seen = []
        launcher.runOn(TrialRun(trial: 1, rung: 0, budget: 1), config: [:], slot: 0) { run, outcome in
            seen.append("\(run.rung):\(outcome.metric ?? -1)")
            return run.rung == 0 ? TrialRun(trial: 1, rung: 1, budget: 3) : nil
        }
        #expect(seen == ["0:0.5", "1:0.7"])
        // A process that ends before its rung's budget is a failed run, reported once.
        try "#!/bin/sh\nexit 3\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        seen = []
        launcher.runOn(TrialRun(trial: 2, rung: 0, budget: 1), config: [:], slot: 0) { run, outcome in
            seen.append("\(run.rung):\(outcome.metric ?? -1):\(outcome.error ?? "")")
            return nil
        }
        #expect(seen.count == 1 && seen[0].hasPrefix("0:-1.0:cohort train exited 3 before epoch 1"), "\(seen)")
    }

    /// The stopping type refuses another scheduler, a budget in steps, and a job that stops itself early.
    @Test func stoppingNeedsASHAAndEpochs() throws {
        var spec = Self.stoppingSpec(trials: 2)
        let early = #expect(throws: ConfigError.self) {
            var job = JobSpec()
            job.earlyStoppingPatience = 2
            try spec.validate(job: job) { ConfigError(file: "f", line: nil, keyPath: $0, message: $1) }
        }
        #expect(early?.keyPath == "tune.asha_type" && early?.message.contains("early_stopping_patience") == true)
        try spec.validate { ConfigError(file: "f", line: nil, keyPath: $0, message: $1) }
        spec.scheduler = .random
        #expect(throws: ConfigError.self) { try spec.validate { ConfigError(file: "f", line: nil, keyPath: $0, message: $1) } }
        spec.scheduler = .asha
        spec.unit = .steps
        let error = #expect(throws: ConfigError.self) {
            try spec.validate { ConfigError(file: "f", line: nil, keyPath: $0, message: $1) }
        }
        #expect(error?.keyPath == "tune.asha_type")
    }
}

/// `tune.metric`: what trials are judged by, and which way.
@Suite struct TuneMetricTests {
    /// A loss is minimised: with loss = 1 − the accuracy of `ASHASchedulerTests`, ASHA promotes exactly the same
    /// runs, and the best run is the lowest loss.
    @Test func aLossIsMinimised() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var spec = sampleSpec()
        spec.metric = .validationLoss
        let launcher = SyntheticLauncher { run, _ in 1 - ASHASchedulerTests.quality[run.trial] * Double(run.budget) / 9 }
        let file = try StudyFile(path: dir + "/study.jsonl", spec: spec)
        let runner = StudyRunner(spec: spec, file: file, launcher: launcher, slots: 1)
        #expect(try runner.run())
        #expect(
            launcher.runs.map { "\($0.trial)/\($0.rung)" }.joined(separator: " ")
                == "0/0 1/0 2/0 1/1 3/0 4/0 5/0 5/1 6/0 7/0 8/0 3/1 1/2")
        let best = StudyReport(spec: spec, file: file).best
        #expect(best?.trial == 1 && best?.rung == 2)
        #expect(abs((best?.metric ?? 0) - 0.1) < 1e-12)
        #expect(runner.progress.best?.trial == 1)
        #expect(StudyReport(spec: spec, file: file).table(limit: 1).last?.hasPrefix("    1") == true)
    }

    /// A validation metric needs the job's validation split; the error names the key.
    @Test func aValidationMetricNeedsAValidationSet() throws {
        var spec = sampleSpec()
        spec.metric = .validationAccuracy
        var job = JobSpec()
        let error = #expect(throws: ConfigError.self) {
            try spec.validate(job: job) { ConfigError(file: "f", line: nil, keyPath: $0, message: $1) }
        }
        #expect(error?.keyPath == "tune.metric" && error?.message.contains("validation_fraction") == true)
        job.data.validationFraction = 0.1
        try spec.validate(job: job) { ConfigError(file: "f", line: nil, keyPath: $0, message: $1) }
    }
}
