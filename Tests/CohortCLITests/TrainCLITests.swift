import Foundation
import Testing

/// `cohort train` end to end: bad input is one line and a non-zero exit (never a crash: a crash is a signal
/// status, which these tests would see), and a short job prints its `done` line.
@Suite(.timeLimit(.minutes(3)))
struct TrainCLITests {
    @Test func badFlagValueIsOneLineError() throws {
        let r = try cohort(["train", "--lr", "fast", "--dataset", "synthetic", "--steps", "1"])
        #expect(r.status != 0 && r.status < 128, "exit \(r.status)")
        #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("cohort: "), "expected one line: \(r.stderr)")
        #expect(r.stderr.contains("--lr") && r.stderr.contains("fast"), "\(r.stderr)")
        #expect(!r.stdout.contains("done"))
    }

    /// A learning rate that makes the loss NaN is an outcome, not a crash: one line naming quantity, step and
    /// rank, and the diverged status (3), not a trap in an encoder.
    @Test func divergedTrainingEndsWithOneLineAndItsOwnStatus() throws {
        let r = try cohort(
            ["train", "--dataset", "synthetic", "--layers", "32,48,10", "--lr", "1000000", "--epochs", "1"], timeout: 60)
        #expect(r.status == 3, "exit \(r.status): \(r.stderr)")
        let line = r.stderr.split(separator: "\n").first { $0.contains("training diverged: ") }
        #expect(line != nil && line!.contains("at step ") && line!.contains("(rank 0)"), "\(r.stderr)")
        #expect(r.stderrLines.count <= 6 && !r.stderr.contains("Fatal error"), "\(r.stderr)")
    }

    /// `on_divergence: skip_step`: the run goes on past non-finite steps, drops their updates and counts them.
    @Test func skipStepDropsDivergedUpdatesAndCountsThem() throws {
        let dir = try scratchDirectory("skip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = """
            job:
              model: {layers: [32, 48, 10], activation: relu, init: he_normal}
              optimizer: {name: momentum, lr: 1000000.0, momentum: 0.9}
              data: {dataset: synthetic}
              batch_size: 60
              epochs: 1
              steps: 50
              seed: 3
              on_divergence: skip_step
            """
        let config = dir.appendingPathComponent("job.yaml")
        try job.write(to: config, atomically: true, encoding: .utf8)
        let metrics = dir.appendingPathComponent("m.jsonl")
        let r = try cohort(["train", "--config", config.path, "--metrics", metrics.path], timeout: 60)
        #expect(r.status == 0, "exit \(r.status): \(r.stderr)")
        let last = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").last.map(String.init) ?? ""
        let record = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        let skipped = record?["skipped_steps"] as? Int ?? 0
        let steps = record?["steps"] as? Int ?? 0
        #expect(skipped > 0 && skipped + steps == 50, "\(last)")
    }

    /// Every comma-separated option reads through one list type: a bad or empty item is an error naming the
    /// option and the item (bench rank's --sizes used to drop it silently).
    @Test(arguments: [
        (["train", "--layers", "784,x,10", "--steps", "1"], "--layers", "\"x\""),
        (["train", "--layers", "784,,10", "--steps", "1"], "--layers", "empty item"),
        (["bench", "pipeline", "--schedules", "gpipe,2f2b"], "--schedules", "\"2f2b\""),
        (["bench", "rank", "--sizes", "4096,64k"], "--sizes", "\"64k\""),
    ])
    func badCommaListItemIsNamed(arguments: [String], option: String, item: String) throws {
        let r = try cohort(arguments)
        #expect(r.status != 0 && r.status < 128, "exit \(r.status)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains(option) && r.stderr.contains(item), "\(r.stderr)")
    }

    @Test func unknownFlagIsAnError() throws {
        let r = try cohort(["train", "--learning-rate", "0.1"])
        #expect(r.status != 0 && r.status < 128, "exit \(r.status)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains("--learning-rate"), "\(r.stderr)")
    }

    @Test func badRecipeIsAnError() throws {
        let r = try cohort(["train", "--workload", "W9", "--steps", "1"])
        #expect(r.status != 0 && r.status < 128)
        #expect(r.stderrLines.count == 1 && r.stderr.contains("--workload") && r.stderr.contains("W9"), "\(r.stderr)")
    }

    @Test func badYAMLNamesFileLineAndKey() throws {
        let dir = try scratchDirectory("train")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("job.yaml").path
        let yaml = "job:\n  epochs: 1\n  optimizer:\n    name: momentum\n    lr: quick\n"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try cohort(["train", "--config", path, "--dataset", "synthetic"])
        #expect(r.status != 0 && r.status < 128, "exit \(r.status)")
        #expect(r.stderrLines.count == 1, "expected one line: \(r.stderr)")
        #expect(r.stderr.contains("\(path):5") && r.stderr.contains("job.optimizer.lr"), "\(r.stderr)")
        #expect(r.stdout.isEmpty, "\(r.stdout)")
    }

    @Test func missingConfigFileIsOneLine() throws {
        let r = try cohort(["train", "--config", "/nonexistent/job.yaml"])
        #expect(r.status != 0 && r.status < 128)
        #expect(r.stderrLines.count == 1 && r.stderr.contains("/nonexistent/job.yaml"), "\(r.stderr)")
    }

    @Test func shortSyntheticJobEndsWithDoneLine() throws {
        let r = try cohort(
            [
                "train", "--dataset", "synthetic", "--layers", "32,64,4", "--max-train-examples", "2000",
                "--max-test-examples", "500", "--batch-size", "50", "--epochs", "3", "--lr", "0.05",
                "--optimizer", "momentum", "--json", "--quiet",
            ], timeout: 40)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        let done = try #require(lastJSONObject(r.stdout), "no JSON: \(r.stdout)")
        #expect(lines.last.map(String.init).flatMap { $0.hasPrefix("{") ? $0 : nil } != nil, "the done line must be last")
        #expect(done["event"] as? String == "done")
        #expect(done["epochs"] as? Int == 3)
        #expect(done["steps"] as? Int == 120)  // 2000 / 50 × 3
        #expect(done["synthetic"] as? Bool == true)
        let accuracy = try #require(done["test_accuracy"] as? Double)
        // 4 classes: chance is 0.25; three epochs on the synthetic task must beat it clearly.
        #expect(accuracy > 0.35 && accuracy <= 1, "test accuracy \(accuracy)")
        #expect((done["samples_per_s"] as? Double ?? 0) > 0)
        // One JSON line per epoch before the done line.
        let epochs = lines.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(epochs.map { $0["event"] as? String } == ["epoch", "epoch", "epoch"], "\(r.stdout)")
        let losses = epochs.compactMap { $0["train_loss"] as? Double }
        #expect(losses.count == 3 && losses[2] < losses[0], "training loss did not fall: \(losses)")
    }
}
