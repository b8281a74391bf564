import Collectives
import Datasets
import Foundation
import NN
import Tensors

/// One data-parallel replica's training: its rows of every global batch, forward and backward, the gradient
/// all-reduce overlapped with backward (summing: the loss is already averaged over the GLOBAL batch), and the
/// same optimizer update on every rank, so the weights stay bitwise identical.
public final class DataParallelWorker {
    public let assignment: Assignment
    public let data: JobData
    public let trainer: Trainer
    public let plan: EpochPlan
    private let communicator: Communicator?
    private let control: WorkerControl?
    private let buckets: GradientBuckets
    private let totalSteps: Int

    public var rank: Int { assignment.rank }
    private var ranks: Int { assignment.layout.dataParallel }

    /// `communicator` nil runs alone (one rank, or the compute-only diagnostic when `run.allReduce` is false).
    public init(assignment: Assignment, data: JobData, communicator: Communicator?, control: WorkerControl?) throws {
        guard assignment.layout.pipelineStages == 1 else {
            throw RuntimeError.invalid(
                "parallelism.pipeline_stages: \(assignment.layout.pipelineStages) stages are not supported by the data-parallel worker"
            )
        }
        self.assignment = assignment
        self.data = data
        self.control = control
        let job = assignment.job
        let model = try job.makeModel()
        model.threads = assignment.run.threads
        plan = EpochPlan(
            exampleCount: data.train.count, globalBatchSize: job.batchSize, ranks: assignment.layout.dataParallel,
            seed: job.seed, dropLast: job.data.dropLast)
        guard plan.stepsPerEpoch > 0 else {
            throw RuntimeError.invalid("job.batch_size: \(job.batchSize) leaves no step in \(data.train.count) examples")
        }
        totalSteps = job.steps ?? job.epochs * plan.stepsPerEpoch
        trainer = Trainer(
            model: model, optimizer: try job.makeOptimizer(), schedule: job.makeSchedule(totalSteps: totalSteps),
            regularization: job.makeRegularization())
        let reduce = assignment.run.allReduce && assignment.worldSize > 1 ? communicator : nil
        self.communicator = reduce
        buckets = GradientBuckets(model: model, bucketBytes: assignment.run.bucketBytes, communicator: reduce)
        model.onLayerGradientsReady = { [buckets] layer in buckets.layerReady(layer) }
    }

    deinit { buckets.shutdown() }

    /// Trains the whole job; reports progress and epochs through the control plane.
    public func run() throws -> FinalReport {
        let model = trainer.model
        let checkpoints = assignment.checkpoint.map(TrainingCheckpoints.init(spec:))
        var resumeAt = ResumePoint(step: 0, epoch: 0, stepInEpoch: 0)
        if assignment.run.resume, let checkpoints, let point = try checkpoints.restoreAgreed(with: communicator, into: trainer) {
            resumeAt = point
        }
        // Replicas start from rank 0's weights, as DDP does (they are equal already when seeded alike).
        if let communicator {
            try communicator.broadcast(model.parameters.buffer, root: 0)
        }
        let buffer = BatchBuffer(capacity: plan.globalBatchSize, featureCount: data.train.featureCount)
        let epochs = (totalSteps + plan.stepsPerEpoch - 1) / plan.stepsPerEpoch
        var step = resumeAt.step
        var total = Totals()
        var window = Totals()
        var lastReport = DispatchTime.now().uptimeNanoseconds
        let runStart = lastReport
        var testCorrect = 0
        var testCount = 0
        let warmup = assignment.run.warmupSteps
        var steady = StepWindow()
        var steadySteps: [Double] = []
        var steadyCompute: [Double] = []

        for epoch in resumeAt.epoch..<max(epochs, resumeAt.epoch) {
            let perm = plan.permutation(epoch: epoch)
            var epochLoss = 0.0
            var epochSteps = 0
            let first = epoch == resumeAt.epoch ? resumeAt.stepInEpoch : 0
            for s in first..<plan.stepsPerEpoch where step < totalSteps {
                if let reason = control?.stopReason { throw RuntimeError.stopped(reason) }
                let globalRows = plan.globalBatchRange(step: s).count
                let tStart = DispatchTime.now().uptimeNanoseconds
                let (x, labels) = buffer.load(plan.rankBatch(step: s, rank: rank, permutation: perm), from: data.train)
                let t0 = DispatchTime.now().uptimeNanoseconds
                let (loss, correct) = trainer.computeGradients(x: x, labels: labels, normalizer: globalRows)
                let t1 = DispatchTime.now().uptimeNanoseconds
                let (wait, reduce) = try buckets.finishStep()
                trainer.applyUpdate()
                let t2 = DispatchTime.now().uptimeNanoseconds
                step += 1
                epochSteps += 1
                epochLoss += Double(loss)
                let stepTotals = Totals(
                    steps: 1, samples: x.rows, correct: correct, lossSum: Double(loss),
                    compute: Double(t1 - t0) / 1e9 + Double(t2 - t1) / 1e9 - wait,
                    allReduce: reduce, wait: wait)
                total.add(stepTotals)
                if let warmup, step > warmup {
                    steady.steps += 1
                    steady.samples += x.rows
                    steady.seconds += Double(t2 - tStart) / 1e9
                    steadySteps.append(Double(t2 - tStart) / 1e9)
                    steadyCompute.append(stepTotals.compute)
                    steady.computeSeconds += stepTotals.compute
                    steady.allReduceSeconds += reduce
                    steady.waitSeconds += wait
                }
                window.add(stepTotals)
                if t2 - lastReport > 250_000_000 || step == totalSteps {
                    window.seconds = Double(t2 - lastReport) / 1e9
                    control?.post(
                        .progress(
                            window.report(
                                rank: rank, epoch: epoch, step: step, stepsPerEpoch: plan.stepsPerEpoch, totalSteps: totalSteps)))
                    window = Totals()
                    lastReport = t2
                }
                if rank == 0,
                    let path = try checkpoints?.saveIfDue(
                        trainer, afterStep: step, epoch: epoch, stepInEpoch: s + 1,
                        seed: assignment.job.seed)
                {
                    control?.post(.checkpointed(rank: rank, step: step, path: path))
                }
            }
            let (correct, count, lossSum) = evaluateTestShard()
            testCorrect = correct
            testCount = count
            control?.post(
                .epoch(
                    EpochReport(
                        rank: rank, epoch: epoch, trainLoss: epochLoss / Double(max(epochSteps, 1)),
                        testCorrect: correct, testCount: count, testLossSum: lossSum)))
            if rank == 0, let path = try checkpoints?.saveIfDue(trainer, afterEpoch: epoch, seed: assignment.job.seed) {
                control?.post(.checkpointed(rank: rank, step: step, path: path))
            }
        }
        total.seconds = Double(DispatchTime.now().uptimeNanoseconds - runStart) / 1e9
        if !steadySteps.isEmpty {
            steady.medianStepSeconds = steadySteps.sorted()[steadySteps.count / 2]
            steady.medianComputeSeconds = steadyCompute.sorted()[steadyCompute.count / 2]
        }
        return FinalReport(
            rank: rank, weightChecksum: weightChecksum(model.parameters), steps: step, samples: total.samples,
            seconds: total.seconds, computeSeconds: total.compute, allReduceSeconds: total.allReduce,
            waitSeconds: total.wait, testCorrect: testCorrect, testCount: testCount,
            steady: warmup == nil ? nil : steady)
    }

    /// This rank's contiguous share of the test set: correct predictions, count, and summed loss.
    private func evaluateTestShard() -> (Int, Int, Double) {
        let n = data.test.count
        let rows = EpochPlan.shardRows(batchSize: n, rank: rank, ranks: ranks)
        guard !rows.isEmpty else { return (0, 0, 0) }
        let share = data.test.subset(Array(rows))
        let (loss, accuracy) = trainer.evaluate(share)
        return (Int((Double(accuracy) * Double(rows.count)).rounded()), rows.count, Double(loss) * Double(rows.count))
    }
}

/// Running sums for progress reports.
struct Totals {
    var steps = 0, samples = 0, correct = 0
    var lossSum = 0.0, compute = 0.0, allReduce = 0.0, wait = 0.0, seconds = 0.0

    mutating func add(_ o: Totals) {
        steps += o.steps
        samples += o.samples
        correct += o.correct
        lossSum += o.lossSum
        compute += o.compute
        allReduce += o.allReduce
        wait += o.wait
    }

    func report(rank: Int, epoch: Int, step: Int, stepsPerEpoch: Int, totalSteps: Int) -> ProgressReport {
        ProgressReport(
            rank: rank, epoch: epoch, step: step, stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps,
            steps: steps, samples: samples, loss: lossSum / Double(max(steps, 1)),
            accuracy: Double(correct) / Double(max(samples, 1)), seconds: seconds,
            computeSeconds: compute, allReduceSeconds: allReduce, waitSeconds: wait)
    }
}

/// FNV-1a over the parameter bytes: equal checksums mean bitwise equal weights.
public func weightChecksum(_ t: Tensor) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    let bytes = UnsafeRawBufferPointer(start: t.pointer, count: t.count * MemoryLayout<Float>.stride)
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return String(format: "%016llx", h)
}
