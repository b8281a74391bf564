import CohortTestSupport
import Foundation
import Testing

/// `cohort tune` end to end: real trial processes (`cohort train`) on a small synthetic job.
@Suite(.serialized) struct TuneCLITests {
    /// ASHA over lr and batch size, budgets 1/2/4 epochs, on a cluster file of one host with 2 worker slots.
    static func clusterYAML(eta: Int = 2, trials: Int = 6, ashaType: String = "promotion") -> String {
        """
        cluster:
          name: tune-test
          coordinator: {host: 127.0.0.1, port: 5555}
        hosts:
          - {address: 127.0.0.1, workers: 2}
        job:
          model: {layers: [16, 24, 4], activation: relu, init: he_normal}
          optimizer: {name: momentum, lr: 0.05, momentum: 0.9}
          data: {dataset: synthetic, max_train_examples: 512, max_test_examples: 128}
          batch_size: 32
          epochs: 4
          seed: 7
        tune:
          scheduler: asha
          asha_type: \(ashaType)
          trials: \(trials)
          eta: \(eta)
          min_budget: 1
          seed: 3
          space:
            optimizer.lr: {log_uniform: [0.001, 0.5]}
            batch_size: {choice: [16, 32]}

        """
    }

    /// (trial, rung, budget, config, metric) of every result line: what "the same trials" means.
    static func resultSet(_ path: String) throws -> Set<String> {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var set = Set<String>()
        for line in text.split(separator: "\n") {
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                o["event"] as? String == "result"
            else { continue }
            let config = (o["config"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            set.insert("\(o["trial"] ?? "")/\(o["rung"] ?? "")/\(o["budget"] ?? "")/\(config)/\(o["metric"] ?? "nil")")
        }
        return set
    }

    static func resultCount(_ path: String) -> Int {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.components(separatedBy: "\"event\":\"result\"").count - 1
    }

    @Test func completesWithDoneLine() throws {
        let dir = try scratchDirectory("tune")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try Self.clusterYAML().write(toFile: config, atomically: true, encoding: .utf8)
        let study = dir.appendingPathComponent("study.jsonl").path
        let r = try cohort(["tune", config, "--study", study, "--json", "--no-plot"], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let last = try #require(r.stdout.split(separator: "\n").last.map(String.init))
        #expect(last.hasPrefix("{\"event\":\"done\",\"trials\":6,\"best_test_accuracy\":"))
        let done = try #require(lastJSONObject(r.stdout))
        let best = try #require(done["best"] as? [String: Any])
        #expect(Set(best.keys) == ["batch_size", "optimizer.lr"])
        // The best accuracy is the highest metric in the study file.
        let metrics = try String(contentsOfFile: study, encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["metric"] as? Double
        }
        #expect((done["best_test_accuracy"] as? Double) == metrics.max())
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("results.csv").path))
        #expect(r.stderr.contains("trials started, best "))
        // A promoted trial continues from its previous rung's state (all slots are local); rung 0 starts afresh.
        let results = try String(contentsOfFile: study, encoding: .utf8).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["event"] as? String == "result" }
        let promoted = results.filter { ($0["rung"] as? Int ?? 0) > 0 }
        #expect(!promoted.isEmpty)
        #expect(promoted.allSatisfy { ($0["resumed_from_step"] as? Int ?? 0) > 0 }, "\(promoted)")
        #expect(results.filter { $0["rung"] as? Int == 0 }.allSatisfy { $0["resumed_from_step"] == nil })
    }

    /// ASHA's stopping type: each trial is one `cohort train` process that trains on through the rungs it passes
    /// (no result after rung 0 resumed from a checkpoint), and a trial has a rung's result only after the rung below.
    @Test func stoppingTypeTrainsEachTrialInOneProcess() throws {
        let dir = try scratchDirectory("tune-stop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try Self.clusterYAML(ashaType: "stopping").write(toFile: config, atomically: true, encoding: .utf8)
        let study = dir.appendingPathComponent("study.jsonl").path
        let r = try cohort(["tune", config, "--study", study, "--json", "--no-plot"], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let results = try String(contentsOfFile: study, encoding: .utf8).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["event"] as? String == "result" }
        let rungs = Dictionary(grouping: results, by: { $0["trial"] as? Int ?? -1 }).mapValues {
            $0.compactMap { $0["rung"] as? Int }.sorted()
        }
        #expect(Set(rungs.keys) == Set(0..<6))
        #expect(rungs.values.allSatisfy { $0 == Array(0..<$0.count) }, "\(rungs)")
        #expect(rungs.values.contains { $0.count == 3 }, "a trial reached max_budget: \(rungs)")
        #expect(results.allSatisfy { $0["resumed_from_step"] == nil && $0["metric"] is Double }, "\(results)")
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("trials").path)
            .filter { $0.hasSuffix(".log") }
        #expect(logs.count == 6, "one process per trial: \(logs.sorted())")
    }

    /// `metric: validation_accuracy` under the stopping type: every rung's result is read from the epoch lines'
    /// validation accuracy, and the done line names the metric it reports.
    @Test func aValidationMetricJudgesTheTrials() throws {
        let dir = try scratchDirectory("tune-val")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let yaml = Self.clusterYAML(ashaType: "stopping")
            .replacingOccurrences(of: "max_test_examples: 128}", with: "max_test_examples: 128, validation_fraction: 0.25}")
            .replacingOccurrences(of: "  asha_type: stopping\n", with: "  asha_type: stopping\n  metric: validation_accuracy\n")
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let study = dir.appendingPathComponent("study.jsonl").path
        let r = try cohort(["tune", config, "--study", study, "--json", "--no-plot"], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let done = try #require(lastJSONObject(r.stdout))
        #expect(done["best_test_accuracy"] == nil)
        let best = try #require(done["best_validation_accuracy"] as? Double, "\(done)")
        let metrics = try String(contentsOfFile: study, encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["metric"] as? Double
        }
        #expect(best == metrics.max())
        #expect(r.stderr.contains("rung 2"), "some trial passed every rung: \(r.stderr.suffix(2000))")
    }

    /// SIGKILL the tuner mid-study (its trial dies with it), resume with the same command: the study file ends with
    /// exactly the results of an uninterrupted study with the same seed (one slot, so the order is fixed).
    @Test(arguments: ["promotion", "stopping"]) func killedStudyResumesToTheSameTrials(ashaType: String) throws {
        let dir = try scratchDirectory("tune-kill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try Self.clusterYAML(trials: 8, ashaType: ashaType).write(toFile: config, atomically: true, encoding: .utf8)
        let whole = dir.appendingPathComponent("whole/study.jsonl").path
        let r = try cohort(["tune", config, "--study", whole, "--slots", "1", "--json", "--no-plot"], timeout: 180)
        #expect(r.status == 0, "\(r.stderr)")

        let killed = dir.appendingPathComponent("killed/study.jsonl").path
        let tuner = Process()
        tuner.executableURL = try requireCohortBinary()
        tuner.arguments = ["tune", config, "--study", killed, "--slots", "1", "--json", "--no-plot"]
        tuner.standardOutput = FileHandle.nullDevice
        tuner.standardError = FileHandle.nullDevice
        try tuner.run()
        let deadline = Date().addingTimeInterval(60)
        while Self.resultCount(killed) < 4 && tuner.isRunning && Date() < deadline { usleep(5_000) }
        let trials = childPids(of: tuner.processIdentifier)
        kill(tuner.processIdentifier, SIGKILL)
        tuner.waitUntilExit()
        let done = Self.resultCount(killed)
        #expect(done >= 4 && done < Self.resultCount(whole))
        let gone = Date().addingTimeInterval(10)
        while trials.contains(where: isAlive) && Date() < gone { usleep(20_000) }
        #expect(!trials.contains(where: isAlive), "a trial outlived the killed tuner")

        let resumed = try cohort(["tune", config, "--study", killed, "--slots", "1", "--json", "--no-plot"], timeout: 180)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming"))
        #expect(try Self.resultSet(killed) == Self.resultSet(whole))
        #expect(Self.resultCount(killed) == Self.resultCount(whole))
    }

    /// Ctrl-C (SIGINT) stops the study: the trial in flight is stopped and not recorded as failed, the exit says how
    /// to resume, and the resume finishes the study with every result present once.
    @Test func interruptedStudyMarksNothingFailed() throws {
        let dir = try scratchDirectory("tune-int")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try Self.clusterYAML(trials: 8).write(toFile: config, atomically: true, encoding: .utf8)
        let study = dir.appendingPathComponent("study.jsonl").path
        let errURL = dir.appendingPathComponent("stderr.txt")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let tuner = Process()
        tuner.executableURL = try requireCohortBinary()
        tuner.arguments = ["tune", config, "--study", study, "--slots", "1", "--json", "--no-plot"]
        tuner.standardOutput = FileHandle.nullDevice
        tuner.standardError = try FileHandle(forWritingTo: errURL)
        try tuner.run()
        let deadline = Date().addingTimeInterval(60)
        while Self.resultCount(study) < 3 && tuner.isRunning && Date() < deadline { usleep(5_000) }
        kill(tuner.processIdentifier, SIGINT)
        let end = Date().addingTimeInterval(20)
        while tuner.isRunning && Date() < end { usleep(20_000) }
        if tuner.isRunning { kill(tuner.processIdentifier, SIGKILL) }
        tuner.waitUntilExit()
        #expect(tuner.terminationStatus != 0)
        let stderr = try String(contentsOf: errURL, encoding: .utf8)
        #expect(stderr.contains("run the same command again to resume"), "\(stderr)")
        let text = try String(contentsOfFile: study, encoding: .utf8)
        #expect(!text.contains("\"error\""), "a stopped trial was recorded as failed")
        let resumed = try cohort(["tune", config, "--study", study, "--slots", "1", "--json", "--no-plot"], timeout: 180)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let runs = try Self.resultSet(study).map { $0.split(separator: "/").prefix(2).joined(separator: "/") }
        #expect(runs.count == Set(runs).count && runs.count == Self.resultCount(study))
    }

    @Test func badInputIsOneLineNamingTheKey() throws {
        let dir = try scratchDirectory("tune-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let cases: [(String, String)] = [
            (Self.clusterYAML(eta: 1), "tune.eta: must be at least 2, got 1"),
            (
                Self.clusterYAML().replacingOccurrences(
                    of: "optimizer.lr: {log_uniform: [0.001, 0.5]}", with: "optimizer.lr: {log_uniform: [0, 0.5]}"),
                "tune.space.optimizer.lr: log_uniform bounds must be > 0"
            ),
            (
                Self.clusterYAML().replacingOccurrences(
                    of: "batch_size: {choice: [16, 32]}", with: "batchsize: {choice: [16, 32]}"),
                "tune.space.batchsize: not a job key"
            ),
        ]
        for (yaml, expected) in cases {
            try yaml.write(toFile: config, atomically: true, encoding: .utf8)
            let r = try cohort(["tune", config, "--study", dir.appendingPathComponent("s.jsonl").path], timeout: 30)
            #expect(r.status != 0)
            #expect(r.stderrLines.count == 1 && r.stderr.contains(expected) && r.stderr.contains("cluster.yaml:"), "\(r.stderr)")
        }
    }
}

/// `cohort validate` checks a tune: section as `cohort tune` would.
@Suite struct TuneValidateCLITests {
    @Test func validateChecksTheTuneSection() throws {
        let dir = try scratchDirectory("tune-validate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try TuneCLITests.clusterYAML().write(toFile: config, atomically: true, encoding: .utf8)
        let ok = try cohort(["validate", config])
        #expect(ok.status == 0, "\(ok.stderr)")
        try TuneCLITests.clusterYAML(eta: 1).write(toFile: config, atomically: true, encoding: .utf8)
        let bad = try cohort(["validate", config])
        #expect(bad.status != 0)
        #expect(
            bad.stderrLines.count == 1 && bad.stderr.contains("cluster.yaml:") && bad.stderr.contains("tune.eta"), "\(bad.stderr)"
        )
    }
}
