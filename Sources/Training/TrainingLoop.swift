import Config
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
    /// `job.on_divergence`.
    public var onDivergence: DivergencePolicy = .stop
    /// Where the run saves (nil: it does not) and whether it first continues from the newest valid checkpoint
    /// there: how `cohort tune` carries a promoted ASHA trial to its next rung instead of retraining it.
    public var checkpoints: TrainingCheckpoints?
    public var resumesFromCheckpoint = false
    /// Where the run started: step 0, or the restored checkpoint's cursor.
    public private(set) var resumedAt = ResumePoint(step: 0, epoch: 0, stepInEpoch: 0)
    private let buffer: BatchBuffer

    /// Builds the model, optimizer and schedule from `job`, over already loaded `data`.
    public convenience init(job: JobSpec, data: JobData, threads: Int = 1, scheduleHorizon: ScheduleHorizon? = nil) throws {
        let model = try job.makeModel()
        model.threads = threads
        let plan = job.epochPlan(exampleCount: data.train.count)
        guard plan.stepsPerEpoch > 0 else {
            throw JobError("batch_size", "\(job.batchSize) with drop_last leaves no step in \(data.train.count) examples")
        }
        let total = job.steps ?? job.epochs * plan.stepsPerEpoch
        let scheduled = max(total, scheduleHorizon?.steps(perEpoch: plan.stepsPerEpoch) ?? total)
        let optimizer = try job.makeOptimizer()
        optimizer.threads = threads
        let trainer = Trainer(
            model: model, optimizer: optimizer, schedule: job.makeSchedule(totalSteps: scheduled),
            regularization: job.makeRegularization())
        if let d = job.distillation { trainer.distillation = try DistillationTeacher.load(d, student: model) }
        trainer.parameterConstraints += try compressionConstraints(job.compression, model: model)
        let epochs = job.steps.map { ($0 + plan.stepsPerEpoch - 1) / plan.stepsPerEpoch } ?? job.epochs
        self.init(
            trainer: trainer, data: data, plan: plan, epochs: epochs, maxSteps: job.steps,
            earlyStopping: job.earlyStoppingPatience.map { EarlyStopping(patience: $0) })
        onDivergence = job.divergencePolicy
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
        buffer = BatchBuffer(capacity: plan.globalBatchSize, featureCount: data.train.featureCount)
    }

    /// Trains; calls `progress` about every `progressInterval` seconds and `epochDone` after each epoch.
    /// Returns the metrics of every epoch.
    @discardableResult
    public func run(
        progress: @escaping (StepProgress) -> Void = { _ in }, epochDone: @escaping (EpochMetrics) throws -> Void = { _ in }
    )
        throws -> [EpochMetrics]
    {
        var options = EpochDriver<TrainingLoop>.Options(
            plan: plan, epochs: epochs, totalSteps: maxSteps ?? epochs * plan.stepsPerEpoch)
        options.onDivergence = onDivergence
        options.checkpoints = checkpoints
        options.seed = plan.seed
        if resumesFromCheckpoint, let c = checkpoints, let point = try c.restoreLatest(into: trainer) {
            resumedAt = point
            options.resumeAt = point
        }
        options.progress = ProgressCadence(
            interval: UInt64(max(progressInterval, 0) * 1e9), reportsLastStep: false, restartsEachEpoch: true)
        var reports = EpochDriver<TrainingLoop>.Reports()
        let stepsInEpoch = plan.stepsPerEpoch
        reports.progress = { p in progress(Self.stepProgress(p, stepsInEpoch: stepsInEpoch)) }
        reports.epochEnded = { [unowned self] point, evaluation in
            let m = self.metrics(point, evaluation)
            self.history.append(m)
            try epochDone(m)
            return self.stopsEarly(after: m)
        }
        _ = try EpochDriver(step: self, options: options, reports: reports).run()
        if let stopper = earlyStopping { stopper.restoreBest(into: trainer.model.parameters) }
        return history
    }

    /// The live display's figures: the epoch's running loss and accuracy, the window's throughput.
    private static func stepProgress(_ p: ProgressPoint, stepsInEpoch: Int) -> StepProgress {
        let seen = max(p.epochTotals.samples, 1)
        return StepProgress(
            epoch: p.epoch + 1, step: p.stepInEpoch, stepsInEpoch: stepsInEpoch,
            loss: Float(p.epochTotals.exampleLossSum / Double(seen)),
            accuracy: Float(p.epochTotals.correct) / Float(seen),
            samplesPerSecond: Double(p.window.samples) / (Double(p.window.stepNanos) / 1e9))
    }

    private func metrics(_ point: EpochPoint, _ evaluation: Evaluation) -> EpochMetrics {
        let t = point.totals
        let seconds = Double(t.stepNanos) / 1e9
        var m = EpochMetrics(
            epoch: point.epoch + 1, steps: t.steps, globalStep: trainer.step,
            trainLoss: Float(t.exampleLossSum / Double(t.samples)), trainAccuracy: Float(t.correct) / Float(t.samples),
            learningRate: trainer.optimizer.learningRate, seconds: seconds,
            samplesPerSecond: Double(t.samples) / max(seconds, 1e-9))
        m.validationLoss = evaluation.validation?.loss
        m.validationAccuracy = evaluation.validation?.accuracy
        m.testLoss = evaluation.test.loss
        m.testAccuracy = evaluation.test.accuracy
        if onDivergence == .skipStep { m.skippedSteps = point.skippedSteps }
        return m
    }

    private func stopsEarly(after m: EpochMetrics) -> Bool {
        guard let stopper = earlyStopping, let vl = m.validationLoss,
            stopper.record(validationLoss: vl, epoch: m.epoch, parameters: trainer.model.parameters)
        else { return false }
        stoppedEarly = true
        return true
    }

    /// Samples per second over all epochs' training steps.
    public var samplesPerSecond: Double {
        let seconds = history.reduce(0) { $0 + $1.seconds }
        let samples = history.reduce(0.0) { $0 + $1.samplesPerSecond * $1.seconds }
        return seconds > 0 ? samples / seconds : 0
    }
}

extension TrainingLoop: TrainingStep {
    public typealias Evaluation = (validation: (loss: Float, accuracy: Float)?, test: (loss: Float, accuracy: Float))

    public func step(_ index: Int, permutation: [Int]) throws -> StepRecord {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let (x, y) = buffer.load(plan.globalBatch(step: index, permutation: permutation), from: data.train)
        let r = trainer.computeGradients(x: x, labels: y)
        // One process: its loss is the run's, so a non-finite one counts as a diverged step too.
        let norm = trainer.applyUpdate(squaredNorm: { r.loss.isFinite ? $0 : .nan })
        return StepRecord(
            loss: r.loss, correct: r.correct, samples: y.count, gradientNorm: norm, start: t0,
            end: DispatchTime.now().uptimeNanoseconds)
    }

    public func evaluate() -> Evaluation {
        (data.validation.map { trainer.evaluate($0) }, trainer.evaluate(data.test))
    }
}

/// How long the learning-rate schedule is laid out, when not over the run's own budget: a run that will be
/// continued later (an ASHA rung) follows the schedule of the whole run it is part of.
public enum ScheduleHorizon: Sendable, Equatable {
    case epochs(Int)
    case steps(Int)

    public func steps(perEpoch: Int) -> Int {
        switch self {
        case .epochs(let n): return n * perEpoch
        case .steps(let n): return n
        }
    }
}
