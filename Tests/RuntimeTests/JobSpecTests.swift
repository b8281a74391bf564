import Config
import Foundation
import Runtime
import Testing

@Suite struct JobSpecTests {
    @Test func partialSectionKeepsDefaults() throws {
        let job = try JobSpec.parse(yaml: "job:\n  epochs: 3\n  optimizer:\n    lr: 0.1\n", file: "j.yaml")
        var expected = JobSpec()
        expected.epochs = 3
        expected.optimizer.lr = 0.1
        #expect(job == expected)
        #expect(job.optimizer.momentum == 0.9 && job.model.layers == [784, 256, 128, 10])
    }

    @Test func workloadRecipeThenKeysOverride() throws {
        let job = try JobSpec.parse(
            yaml: "cluster: {ignored: here}\njob:\n  workload: W1\n  epochs: 2\n  schedule:\n    warmup_steps: 5\n",
            file: "j.yaml")
        var expected = JobSpec.w1
        expected.epochs = 2
        expected.schedule.warmupSteps = 5
        #expect(job == expected)
        #expect(job.schedule.name == "cosine")
        #expect(try JobSpec.parse(yaml: "job:\n  workload: W2\n", file: "j.yaml") == .w2)
    }

    @Test func recipesAreTheIssuesRecipes() {
        let w1 = JobSpec.w1
        let w2 = JobSpec.w2
        #expect(w1.model.layers == [784, 256, 128, 10] && w1.batchSize == 128 && w1.epochs == 10)
        #expect(w1.optimizer.name == "momentum" && w1.optimizer.lr == 0.05 && w1.schedule.name == "cosine" && w1.data.standardize)
        #expect(w2.model.layers == [784, 1024, 1024, 1024, 10] && w2.batchSize == 256 && w2.steps == 200)
    }

    @Test func unknownKeyAndWorkloadAreErrorsNamingTheKey() {
        do {
            _ = try JobSpec.parse(yaml: "job:\n  optimizer:\n    learning_rate: 0.1\n", file: "j.yaml")
            Issue.record("unknown key accepted")
        } catch {
            #expect("\(error)" == "j.yaml:3: job.optimizer.learning_rate: unknown key")
        }
        #expect(throws: ConfigError.self) { try JobSpec.parse(yaml: "job:\n  workload: W9\n", file: "j.yaml") }
        #expect(throws: ConfigError.self) { try JobSpec.parse(yaml: "other: 1\n", file: "j.yaml") }
    }

    @Test func invalidSettingsNameTheirKey() {
        var job = JobSpec()
        job.optimizer.name = "lion"
        #expect(throws: JobError.self) { try job.validate() }
        job = JobSpec()
        job.model.activation = "gelu"
        do { try job.validate() } catch let e as JobError { #expect(e.keyPath == "model.activation") } catch {
            Issue.record("\(error)")
        }
        job = JobSpec()
        job.earlyStoppingPatience = 2
        #expect(throws: JobError("early_stopping_patience", "needs a validation set: set data.validation_fraction > 0")) {
            try job.validate()
        }
    }

    @Test func cosineScheduleSpansTheRun() {
        let s = JobSpec.w1.makeSchedule(totalSteps: 100)
        #expect(s.rate(at: 0) == 0.05 && s.rate(at: 100) == 0)
    }
}
