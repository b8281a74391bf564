import Config
import Foundation
import Testing
import Tune

@Suite struct TuneSpecTests {
    func load(_ tune: String) throws -> TuneSpec {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/space.yaml"
        try ("tune:\n" + tune).write(toFile: path, atomically: true, encoding: .utf8)
        var job = JobSpec()
        (job.epochs, job.steps) = (10, 10)
        return try TuneSpec.load(path: path, job: job)
    }

    /// The one-line message of the error `tune` gives, with the temporary path cut off.
    func error(_ tune: String) -> String {
        do {
            _ = try load(tune)
            return "no error"
        } catch let e as ConfigError {
            #expect(!e.description.contains("\n"))
            return "\(e.line.map(String.init) ?? "-"): \(e.keyPath): \(e.message)"
        } catch {
            return "\(error)"
        }
    }

    @Test func validSpaceLoads() throws {
        let spec = try load(
            """
              scheduler: asha
              eta: 3
              min_budget: 1
              trials: 32
              space:
                optimizer.lr: {log_uniform: [0.001, 0.3]}
                optimizer.momentum: {uniform: [0.5, 0.99]}
                batch_size: {choice: [64, 128, 256]}
                model.layers: {choice: [[784, 128, 10], [784, 256, 10]]}
                epochs: {int: [1, 3]}
            """)
        #expect(spec.keys == ["batch_size", "epochs", "model.layers", "optimizer.lr", "optimizer.momentum"])
        #expect(spec.maxBudget == 10)
        #expect(spec.space["optimizer.lr"] == .logUniform(0.001, 0.3))
        #expect(
            spec.space["model.layers"]
                == .choice([.list([.int(784), .int(128), .int(10)]), .list([.int(784), .int(256), .int(10)])]))
    }

    @Test func emptySpace() {
        #expect(error("  space: {}\n") == "2: tune.space: the search space is empty: name at least one job key")
    }

    @Test func unknownJobKey() {
        #expect(
            error("  space:\n    optimizer.learning_rate: {uniform: [0.1, 0.2]}\n")
                == "3: tune.space.optimizer.learning_rate: not a job key")
        #expect(error("  space:\n    bogus: {choice: [1]}\n") == "3: tune.space.bogus: not a job key")
    }

    @Test func wrongTypeForAJobKey() {
        #expect(
            error("  space:\n    batch_size: {choice: [big]}\n").hasPrefix(
                "3: tune.space.batch_size: not a valid value for job.batch_size"))
    }

    @Test func logUniformBoundsMustBePositive() {
        #expect(
            error("  space:\n    optimizer.lr: {log_uniform: [0, 0.1]}\n")
                == "3: tune.space.optimizer.lr: log_uniform bounds must be > 0, got [0.0, 0.1]")
        #expect(
            error("  space:\n    optimizer.lr: {log_uniform: [-1, 0.1]}\n")
                == "3: tune.space.optimizer.lr: log_uniform bounds must be > 0, got [-1.0, 0.1]")
    }

    @Test func etaBelowTwo() {
        #expect(
            error("  eta: 1\n  space:\n    optimizer.lr: {uniform: [0.1, 0.2]}\n") == "2: tune.eta: must be at least 2, got 1")
    }

    /// An unknown word of a closed set names the key, its line and the words allowed.
    @Test func unknownWordsListTheAllowedOnes() {
        let space = "  space:\n    optimizer.lr: {uniform: [0.1, 0.2]}\n"
        #expect(error("  scheduler: bohb\n" + space) == "2: tune.scheduler: expected one of random, grid, asha, got \"bohb\"")
        #expect(
            error("  asha_type: sometimes\n" + space)
                == "2: tune.asha_type: expected one of promotion, stopping, got \"sometimes\"")
        #expect(
            error("  metric: f1\n" + space)
                == "2: tune.metric: expected one of test_accuracy, test_loss, validation_accuracy, validation_loss, got \"f1\"")
        #expect(error("  unit: hours\n" + space) == "2: tune.unit: expected one of epochs, steps, got \"hours\"")
    }

    @Test func domainNeedsOneKind() {
        #expect(error("  space:\n    optimizer.lr: {uniform: [0.1, 0.2], int: [1, 2]}\n").contains("tune.space.optimizer.lr"))
    }

    /// A trial's job file: the base job with the trial's values and the budget, decodable by `cohort train`.
    @Test func trialJobFileSetsKeysAndBudget() throws {
        let base = try #require(
            try StrictYAMLDecoder.compose(
                "job:\n  workload: W1\n  optimizer: {name: momentum, lr: 0.1}\n  steps: 50\n", file: "t"
            )
            .mapping?["job"])
        let yaml = try TrialJobFile(base: base, unit: .epochs).yaml(
            config: ["optimizer.lr": .double(0.02), "model.layers": .list([.int(784), .int(32), .int(10)])], budget: 3)
        let job = try JobSpec.parse(yaml: yaml, file: "trial")
        #expect(job.optimizer.lr == 0.02)
        #expect(job.optimizer.name == "momentum")
        #expect(job.model.layers == [784, 32, 10])
        #expect(job.epochs == 3)
        #expect(job.steps == nil)
    }
}
