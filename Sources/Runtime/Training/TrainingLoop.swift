import Datasets
import Foundation
import NN
import Tensors

/// Single-process training over epochs (or a fixed number of steps): seeded per-epoch shuffling through the same
/// `EpochPlan` the data-parallel ranks use (with one rank), progress reports, per-epoch evaluation, metrics, and
/// early stopping on validation loss that restores the best weights.
public final class TrainingLoop {
    public let trainer: Trainer
    public let data: JobData
    public let plan: EpochPlan
    public let epochs: Int
    public let maxSteps: Int?
    public let earlyStopping: EarlyStopping?
    /// Seconds between progress reports.
    public var progressInterval: Double = 1

    public private(set) var history: [EpochMetrics] = []
    public private(set) var stoppedEarly = false

    /// Builds the model, optimizer and schedule from `job`, over already loaded `data`.
    public convenience init(job: JobSpec, data: JobData, threads: Int = 1) throws {
        let model = try job.makeModel()
        model.threads = threads
        let plan = EpochPlan(
            exampleCount: data.train.count, globalBatchSize: job.batchSize, ranks: 1, seed: job.seed,
            dropLast: job.data.dropLast)
        guard plan.stepsPerEpoch > 0 else {
            throw JobError("batch_size", "\(job.batchSize) with drop_last leaves no step in \(data.train.count) examples")
        }
        let total = job.steps ?? job.epochs * plan.stepsPerEpoch
        let optimizer = try job.makeOptimizer()
        optimizer.threads = threads
        let trainer = Trainer(
            model: model, optimizer: optimizer, schedule: job.makeSchedule(totalSteps: total),
            regularization: job.makeRegularization())
        let epochs = job.steps.map { ($0 + plan.stepsPerEpoch - 1) / plan.stepsPerEpoch } ?? job.epochs
        self.init(
            trainer: trainer, data: data, plan: plan, epochs: epochs, maxSteps: job.steps,
            earlyStopping: job.earlyStoppingPatience.map { EarlyStopping(patience: $0) })
    }

    public init(
        trainer: Trainer, data: JobData, plan: EpochPlan, epochs: Int, maxSteps: Int? = nil,
        earlyStopping: EarlyStopping? = nil
    ) {
        self.trainer = trainer
        self.data = data
        self.plan = plan
        self.epochs = epochs
        self.maxSteps = maxSteps
        self.earlyStopping = earlyStopping
    }

    /// Trains; calls `progress` about every `progressInterval` seconds and `epochDone` after each epoch.
    /// Returns the metrics of every epoch.
    @discardableResult
    public func run(progress: (StepProgress) -> Void = { _ in }, epochDone: (EpochMetrics) throws -> Void = { _ in }) rethrows
        -> [EpochMetrics]
    {
        let buffer = BatchBuffer(capacity: plan.globalBatchSize, featureCount: data.train.featureCount)
        var totalSteps = 0
        epochLoop: for epoch in 0..<epochs {
            let perm = plan.permutation(epoch: epoch)
            var lossSum = 0.0
            var correct = 0
            var seen = 0
            var steps = 0
            var trainNanos: UInt64 = 0
            var lastReport = DispatchTime.now().uptimeNanoseconds
            var windowSamples = 0
            var windowNanos: UInt64 = 0
            for s in 0..<plan.stepsPerEpoch {
                if let maxSteps, totalSteps >= maxSteps { break }
                let t0 = DispatchTime.now().uptimeNanoseconds
                let (x, y) = buffer.load(plan.globalBatch(step: s, permutation: perm), from: data.train)
                let r = trainer.trainStep(x: x, labels: y)
                let t1 = DispatchTime.now().uptimeNanoseconds
                trainNanos += t1 - t0
                windowNanos += t1 - t0
                windowSamples += y.count
                lossSum += Double(r.loss) * Double(y.count)
                correct += r.correct
                seen += y.count
                steps += 1
                totalSteps += 1
                if Double(t1 - lastReport) >= progressInterval * 1e9 {
                    progress(
                        StepProgress(
                            epoch: epoch + 1, step: s + 1, stepsInEpoch: plan.stepsPerEpoch,
                            loss: Float(lossSum / Double(max(seen, 1))),
                            accuracy: Float(correct) / Float(max(seen, 1)),
                            samplesPerSecond: Double(windowSamples) / (Double(windowNanos) / 1e9)))
                    lastReport = t1
                    windowSamples = 0
                    windowNanos = 0
                }
            }
            guard steps > 0 else { break }
            let seconds = Double(trainNanos) / 1e9
            var m = EpochMetrics(
                epoch: epoch + 1, steps: steps, globalStep: trainer.step,
                trainLoss: Float(lossSum / Double(seen)), trainAccuracy: Float(correct) / Float(seen),
                learningRate: trainer.optimizer.learningRate, seconds: seconds,
                samplesPerSecond: Double(seen) / max(seconds, 1e-9))
            if let validation = data.validation {
                let v = trainer.evaluate(validation)
                m.validationLoss = v.loss
                m.validationAccuracy = v.accuracy
            }
            let t = trainer.evaluate(data.test)
            m.testLoss = t.loss
            m.testAccuracy = t.accuracy
            history.append(m)
            try epochDone(m)
            if let stopper = earlyStopping, let vl = m.validationLoss,
                stopper.record(validationLoss: vl, epoch: epoch + 1, parameters: trainer.model.parameters)
            {
                stoppedEarly = true
                break epochLoop
            }
        }
        if let stopper = earlyStopping { stopper.restoreBest(into: trainer.model.parameters) }
        return history
    }

    /// Samples per second over all epochs' training steps.
    public var samplesPerSecond: Double {
        let seconds = history.reduce(0) { $0 + $1.seconds }
        let samples = history.reduce(0.0) { $0 + $1.samplesPerSecond * $1.seconds }
        return seconds > 0 ? samples / seconds : 0
    }
}
