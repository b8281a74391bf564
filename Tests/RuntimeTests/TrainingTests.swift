import Config
import Datasets
import Foundation
import NN
import Runtime
import Tensors
import Testing
import Training

func smallSyntheticJob() -> JobSpec {
    var job = JobSpec()
    job.model.layers = [784, 32, 10]
    job.data.dataset = "synthetic"
    job.data.maxTrainExamples = 1200
    job.data.maxTestExamples = 400
    job.epochs = 3
    job.batchSize = 50
    job.seed = 3
    return job
}

@Suite struct TrainingTests {
    /// A short end-to-end run on synthetic data learns: test accuracy over a threshold, loss going down,
    /// and metrics written as JSON Lines, one line per epoch.
    @Test(.timeLimit(.minutes(3)))
    func shortTrainingOnSyntheticDataLearns() throws {
        var job = smallSyntheticJob()
        job.data.validationFraction = 0.1
        let data = try job.loadData()
        #expect(data.train.count == 1080 && data.validation?.count == 120 && data.test.count == 400)
        let loop = try TrainingLoop(job: job, data: data)
        let path = NSTemporaryDirectory() + "cohort-metrics-\(UUID().uuidString).jsonl"
        let writer = try JSONLinesWriter(path: path)
        let history = try loop.run(epochDone: { try writer.write($0) })
        #expect(history.count == 3)
        #expect(history.last!.trainLoss < history.first!.trainLoss)
        let test = loop.trainer.evaluate(data.test)
        #expect(test.accuracy > 0.8, "test accuracy \(test.accuracy)")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let first = try JSONDecoder().decode(EpochMetrics.self, from: Data(lines[0].utf8))
        #expect(first == history[0])
        #expect(lines[0].contains("\"samples_per_s\"") && lines[0].contains("\"validation_loss\""))
    }

    @Test(.timeLimit(.minutes(3)))
    func sameSeedSameResult() throws {
        var job = smallSyntheticJob()
        job.epochs = 1
        let a = try TrainingLoop(job: job, data: try job.loadData())
        let b = try TrainingLoop(job: job, data: try job.loadData())
        try a.run()
        try b.run()
        #expect(a.trainer.model.parameters.array == b.trainer.model.parameters.array)
    }

    /// The data-parallel contract: R ranks each computing gradients on their micro-slice of the global batch with the
    /// loss averaged over the GLOBAL batch size, summed (what the all-reduce does), equal the single-process
    /// gradient of the whole global batch.
    @Test(arguments: [2, 3])
    func shardedGradientsSumToSingleProcessGradient(ranks: Int) throws {
        var job = smallSyntheticJob()
        job.batchSize = 64
        let data = try job.loadData()
        let plan = EpochPlan(exampleCount: data.train.count, globalBatchSize: 64, ranks: ranks, seed: 1)
        let perm = plan.permutation(epoch: 0)
        func trainer() throws -> Trainer {
            Trainer(model: try job.makeModel(), optimizer: try job.makeOptimizer(), schedule: job.makeSchedule(totalSteps: 10))
        }
        let single = try trainer()
        let buffer = BatchBuffer(capacity: 64, featureCount: 784)
        let (x, y) = buffer.load(plan.globalBatch(step: 0, permutation: perm), from: data.train)
        single.computeGradients(x: x, labels: y)
        let expected = single.model.gradients.array

        var sum = [Float](repeating: 0, count: expected.count)
        for rank in 0..<ranks {
            let t = try trainer()
            let (xr, yr) = buffer.load(plan.rankBatch(step: 0, rank: rank, permutation: perm), from: data.train)
            t.computeGradients(x: xr, labels: yr, normalizer: 64)
            for (i, g) in t.model.gradients.array.enumerated() { sum[i] += g }
        }
        let worst = zip(sum, expected).map { abs($0 - $1) }.max()!
        let scale = expected.map { abs($0) }.max()!
        #expect(worst <= 1e-4 * scale, "worst difference \(worst) of \(scale)")
    }

    @Test func missingDataSetFallsBackToSyntheticWithANotice() throws {
        var job = smallSyntheticJob()
        job.data.dataset = "fashion-mnist"
        job.data.path = "/nonexistent/cohort-data"
        let data = try job.loadData()
        #expect(data.notice?.contains("SYNTHETIC") == true)
        job.data.syntheticFallback = false
        #expect(throws: JobError.self) { try job.loadData() }
    }

    @Test(.timeLimit(.minutes(3)))
    func earlyStoppingRestoresBestWeights() throws {
        var job = smallSyntheticJob()
        job.epochs = 30
        job.optimizer.lr = 0.5  // noisy enough that validation loss stops improving soon
        job.data.validationFraction = 0.2
        job.earlyStoppingPatience = 2
        let data = try job.loadData()
        let loop = try TrainingLoop(job: job, data: data)
        let history = try loop.run()
        let stopper = try #require(loop.earlyStopping)
        #expect(loop.stoppedEarly && history.count < 30)
        let best = history.min { $0.validationLoss! < $1.validationLoss! }!
        #expect(stopper.bestEpoch == best.epoch)
        #expect(history.count == best.epoch + 2)
        // The model now holds the best epoch's weights: re-evaluating gives the best validation loss.
        #expect(abs(loop.trainer.evaluate(data.validation!).loss - best.validationLoss!) < 1e-5)
    }
}

@Suite struct EmptyShardTests {
    /// A rank whose micro-slice of a short last batch is empty must contribute a zero gradient (and not crash).
    @Test func emptyMicroBatchGivesZeroGradient() throws {
        let job = smallSyntheticJob()
        let t = Trainer(model: try job.makeModel(), optimizer: try job.makeOptimizer(), schedule: job.makeSchedule(totalSteps: 1))
        t.model.gradients.fill(7)
        let x = Tensor(shape: [0, 784])
        let labels: [Int32] = []
        let r = labels.withUnsafeBufferPointer { t.computeGradients(x: x, labels: $0, normalizer: 64) }
        #expect(r.loss == 0 && r.correct == 0)
        #expect(t.model.gradients.array.allSatisfy { $0 == 0 })
    }
}
