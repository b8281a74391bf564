import Collectives
import Config
import Datasets
import Foundation
import NN
import Tensors
import Training

/// One data-parallel replica's training: its rows of every global batch, forward and backward, the gradient
/// all-reduce overlapped with backward (summing: the loss is already averaged over the GLOBAL batch), and the
/// same optimizer update on every rank, so the weights stay bitwise identical.
public final class DataParallelWorker {
    public let assignment: Assignment
    public let data: JobData
    public let trainer: Trainer
    public let plan: EpochPlan
    private let communicator: Communicator?
    private let control: (any WorkerControlChannel)?
    private let buckets: GradientBuckets
    private let totalSteps: Int
    private let buffer: BatchBuffer
    /// Local SGD's outer loop, when `parallelism.sync` asks for it: the buckets then reduce nothing.
    private let outer: OuterOptimizer?
    /// The reducer of synchronised BatchNorm layers' statistics, when the model has any and there are replicas.
    private let batchStatistics: SyncBatchStatistics?
    /// Socket bytes sent before the steady-state window (`RunOptions.warmupSteps`) began.
    private var socketBytesBeforeSteady: UInt64?
    /// `elastic.deterministic`: the gradient of each logical shard, summed exactly (then the buckets reduce nothing).
    private let deterministic: DeterministicGradientSum?
    /// `COHORT_DEBUG_SLOW_RANK`, when it names this rank.
    private let slowdown: DebugSlowdown?
    /// Called on the training thread after each completed step, with the trainer's step count (elastic training
    /// times its recovery to the first step of a new membership with it).
    public var onStepDone: ((Int) -> Void)?
    /// Elastic training: why this membership has ended (the coordinator formed a newer one), or nil. Checked
    /// before each step, because a replica that runs alone has no collective for the new membership to abort:
    /// without the check it would train on by itself while a joiner waits for it.
    public var membershipEnded: (() -> String?)?

    public var rank: Int { assignment.rank }
    private var ranks: Int { assignment.layout.dataParallel }

    /// `communicator` nil runs alone (one rank, or the compute-only diagnostic when `run.allReduce` is false).
    /// `continuing`: the trainer of this process's previous membership (elastic training), whose weights and
    /// optimizer state go on in this one; nil builds a fresh one from the job.
    public init(
        assignment: Assignment, data: JobData, communicator: Communicator?, control: (any WorkerControlChannel)?,
        continuing previous: Trainer? = nil
    ) throws {
        guard assignment.layout.pipelineStages == 1 else {
            throw RuntimeError.invalid(
                "parallelism.pipeline_stages: \(assignment.layout.pipelineStages) stages are not supported by the data-parallel worker"
            )
        }
        self.assignment = assignment
        self.data = data
        self.control = control
        slowdown = try DebugSlowdown.fromEnvironment(rank: assignment.rank)
        let job = assignment.job
        let model = try previous?.model ?? job.makeModel()
        model.threads = assignment.run.threads
        plan = job.epochPlan(exampleCount: data.train.count, ranks: assignment.layout.dataParallel)
        guard plan.stepsPerEpoch > 0 else {
            throw RuntimeError.invalid("job.batch_size: \(job.batchSize) leaves no step in \(data.train.count) examples")
        }
        totalSteps = job.steps ?? job.epochs * plan.stepsPerEpoch
        buffer = BatchBuffer(capacity: plan.globalBatchSize, featureCount: data.train.featureCount)
        // An elastic membership change keeps the trainer, its teacher and masks.
        trainer = try previous ?? Self.makeTrainer(job, model: model, totalSteps: totalSteps)
        let reduce = assignment.run.allReduce && assignment.worldSize > 1 ? communicator : nil
        self.communicator = reduce
        batchStatistics = try SyncBatchStatistics.install(on: model, communicator: reduce)
        if let sync = assignment.parallelism.sync, let reduce {
            outer = OuterOptimizer(spec: sync, communicator: reduce, parameters: model.parameters)
        } else {
            outer = nil
        }
        if let outer { trainer.checkpointedState.append(outer) }
        deterministic = Self.deterministicSum(assignment, model: model)
        let reducer =
            outer == nil && deterministic == nil
            ? reduce.map { makeGradientReducer(assignment.parallelism.gradient, communicator: $0, model: model) } : nil
        buckets = GradientBuckets(model: model, bucketBytes: assignment.run.bucketBytes, reducer: reducer)
        model.onLayerGradientsReady = { [buckets] layer in buckets.layerReady(layer) }
    }

    deinit { buckets.shutdown() }

    /// A fresh trainer for `job` over `data`, built as `init` builds one. An elastic joiner builds it while it
    /// prepares (model initialisation takes milliseconds the members would otherwise wait), then passes it as
    /// `continuing`; the replicas' agreement overwrites its state.
    public static func makeTrainer(job: JobSpec, data: JobData) throws -> Trainer {
        let plan = job.epochPlan(exampleCount: data.train.count)
        return try makeTrainer(job, model: job.makeModel(), totalSteps: job.steps ?? job.epochs * plan.stepsPerEpoch)
    }

    private static func makeTrainer(_ job: JobSpec, model: Sequential, totalSteps: Int) throws -> Trainer {
        let trainer = Trainer(
            model: model, optimizer: try job.makeOptimizer(), schedule: job.makeSchedule(totalSteps: totalSteps),
            regularization: job.makeRegularization())
        if let d = job.distillation { trainer.distillation = try DistillationTeacher.load(d, student: model) }
        trainer.parameterConstraints += try compressionConstraints(job.compression, model: model)
        return trainer
    }

    /// Trains the whole job; reports progress and epochs through the control plane. `agreedStep`: the step the
    /// replicas of a new membership agreed on (`agreeReplicaState`), their states already identical; nil starts
    /// the job (from a checkpoint with `--resume`, with rank 0's weights).
    public func run(agreedStep: Int? = nil) throws -> FinalReport {
        let checkpoints = assignment.checkpoint.map(TrainingCheckpoints.init(spec:))
        var options = EpochDriver<DataParallelWorker>.Options(
            plan: plan, epochs: (totalSteps + plan.stepsPerEpoch - 1) / plan.stepsPerEpoch, totalSteps: totalSteps)
        if let agreedStep {
            options.resumeAt = ResumePoint(
                step: agreedStep, epoch: agreedStep / plan.stepsPerEpoch, stepInEpoch: agreedStep % plan.stepsPerEpoch)
            buckets.reducer?.resumed(atStep: agreedStep)
        } else {
            try startState(checkpoints, &options)
        }
        outer?.reset(to: trainer.model.parameters)
        options.warmupSteps = assignment.run.warmupSteps
        options.checkpoints = rank == 0 ? checkpoints : nil
        options.seed = assignment.job.seed
        options.onDivergence = assignment.job.divergencePolicy
        options.rank = rank
        var workerReports = WorkerReports(
            rank: rank, control: control, stepsPerEpoch: plan.stepsPerEpoch, totalSteps: totalSteps)
        if let traffic = communicator?.plane.traffic { workerReports.linkBytes = { reportedLinks(traffic) } }
        let reports = workerReports.reports(for: DataParallelWorker.self)
        let run = try EpochDriver(step: self, options: options, reports: reports).run()
        let test = run.lastEvaluation ?? (0, 0, 0)
        var report = run.finalReport(
            rank: rank, weightChecksum: replicaStateChecksum(), test: (test.correct, test.count))
        report.links = communicator.map { reportedLinks($0.plane.traffic) }
        if let before = socketBytesBeforeSteady, let traffic = communicator?.plane.traffic {
            report.steadySocketBytes = traffic.total(.socket) &- before
        }
        return report
    }

    /// A job's start: the checkpoint `--resume` names, then rank 0's weights everywhere.
    private func startState(_ checkpoints: TrainingCheckpoints?, _ options: inout EpochDriver<DataParallelWorker>.Options)
        throws
    {
        if assignment.run.resume, let checkpoints, let point = try checkpoints.restoreAgreed(with: communicator, into: trainer) {
            options.resumeAt = point
            buckets.reducer?.resumed(atStep: trainer.step)
            // Local SGD resumes the interrupted period from its last synchronised weights.
            if let outer {
                _ = outer.start.withUnsafeBufferPointer { trainer.model.parameters.buffer.update(fromContentsOf: $0) }
            }
        }
        // Replicas start from rank 0's weights, as DDP does (they are equal already when seeded alike).
        if let communicator {
            try communicator.broadcast(trainer.model.parameters.buffer, root: 0)
        }
    }

    /// This rank's contiguous share of the test set: correct predictions, count, and summed loss.
    public func evaluate() -> TestShard {
        let n = data.test.count
        let rows = EpochPlan.shardRows(batchSize: n, rank: rank, ranks: ranks)
        guard !rows.isEmpty else { return (0, 0, 0) }
        let share = data.test.subset(Array(rows))
        let (loss, accuracy) = trainer.evaluate(share)
        return (Int((Double(accuracy) * Double(rows.count)).rounded()), rows.count, Double(loss) * Double(rows.count))
    }
}

extension DataParallelWorker: TrainingStep {
    public typealias Evaluation = TestShard

    /// This rank's rows of global batch `index`: forward and backward, the bucketed all-reduce overlapped with
    /// backward, and the update.
    public func step(_ index: Int, permutation: [Int]) throws -> StepRecord {
        if let reason = membershipEnded?() {
            throw CollectiveError.aborted(
                operation: "step", me: rank, epoch: assignment.membershipEpoch, reason: reason)
        }
        if trainer.step == assignment.run.warmupSteps, let traffic = communicator?.plane.traffic {
            socketBytesBeforeSteady = traffic.total(.socket)
        }
        let tStart = DispatchTime.now().uptimeNanoseconds
        let (loss, correct, samples, t0, exactSum) = try localGradients(index, permutation: permutation)
        let t1 = DispatchTime.now().uptimeNanoseconds
        var (wait, reduce) = try buckets.finishStep()
        reduce += exactSum
        try batchStatistics?.check()
        try synchronizeQuantizationObservers()
        var norm = trainer.applyUpdate()
        if let outer {
            (norm, reduce) = try outerStep(outer, innerNorm: norm)
            wait = 0
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        onStepDone?(trainer.step)
        return StepRecord(
            loss: loss, correct: correct, samples: samples,
            computeSeconds: Double(t1 - t0) / 1e9 + Double(t2 - t1) / 1e9 - wait - exactSum, allReduceSeconds: reduce,
            waitSeconds: wait, gradientNorm: norm, start: tStart, end: t2)
    }
}

extension DataParallelWorker {
    /// This rank's gradients for global batch `index` (its rows, or under `elastic.deterministic` its logical
    /// shards, already summed over the ranks): loss, correct predictions, rows, when the computation began (after
    /// loading), and the seconds of an exact sum inside it.
    fileprivate func localGradients(_ index: Int, permutation: [Int]) throws -> (
        loss: Float, correct: Int, rows: Int, start: UInt64, exactSumSeconds: Double
    ) {
        if let deterministic {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let r = try deterministic.computeAndSum(
                trainer: trainer, globalBatch: plan.globalBatch(step: index, permutation: permutation), data: data.train,
                buffer: buffer, communicator: communicator)
            return (r.rows > 0 ? Float(r.lossSum / Double(r.rows)) : 0, r.correct, r.rows, t0, r.reduceSeconds)
        }
        let globalRows = plan.globalBatchRange(step: index).count
        let (x, labels) = buffer.load(plan.rankBatch(step: index, rank: rank, permutation: permutation), from: data.train)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let stalled = slowdown?.stall() ?? 0
        // Local SGD's inner steps are each replica's own: the loss is averaged over its own rows.
        let normalizer = outer == nil ? globalRows : max(1, x.rows)
        let (loss, correct) = trainer.computeGradients(x: x, labels: labels, normalizer: normalizer)
        slowdown?.record(computeNanos: DispatchTime.now().uptimeNanoseconds - t0 - stalled)
        return (loss, correct, x.rows, t0, 0)
    }

    /// The exact summation of `elastic.deterministic`, over `max_workers` logical shards (the coordinator sends the
    /// resolved maximum); alone too, so that a last survivor sums its shards as the full membership would.
    fileprivate static func deterministicSum(_ assignment: Assignment, model: Sequential) -> DeterministicGradientSum? {
        guard let elastic = assignment.elastic, elastic.deterministic, assignment.run.allReduce else { return nil }
        return DeterministicGradientSum(
            logicalShards: elastic.maximum(configured: assignment.worldSize), parameterCount: model.parameterCount)
    }

    /// The checksum every replica must agree on: the weights, and under QAT the observers' moving averages after them
    /// (the scales the int8 model will use).
    fileprivate func replicaStateChecksum() -> String {
        let parameters = trainer.model.parameters
        guard let qat = trainer.quantizationAwareTraining else { return weightChecksum(parameters) }
        let observed = qat.quantizers.map { $0.quantizer.observedMaxAbs ?? -1 }
        let state = Tensor(shape: [parameters.count + observed.count])
        state.pointer.update(from: parameters.pointer, count: parameters.count)
        for (k, v) in observed.enumerated() { state.pointer[parameters.count + k] = v }
        return weightChecksum(state)
    }

    /// QAT: this step's activation ranges averaged over the replicas (nothing to do alone or without QAT).
    fileprivate func synchronizeQuantizationObservers() throws {
        guard let qat = trainer.quantizationAwareTraining else { return }
        try qat.synchronizeObservers { values in try communicator?.allReduce(&values, op: .sum) }
    }

    /// After an inner step: at the end of a local period, the synchronisation, whose ‖Δ̄‖ every rank shares (what
    /// divergence is decided on); in between, 0, since a replica's own norm would stop only that replica.
    fileprivate func outerStep(_ outer: OuterOptimizer, innerNorm: Float) throws -> (norm: Float, seconds: Double) {
        outer.noteInnerStep(norm: innerNorm)
        guard outer.isSynchronisation(step: trainer.step, totalSteps: totalSteps) else { return (0, 0) }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let norm = try outer.synchronize(trainer.model.parameters)
        return (norm, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
}

/// `StateHash` over the parameter bytes: equal checksums mean bitwise equal weights.
public func weightChecksum(_ t: Tensor) -> String {
    let bytes = UnsafeRawBufferPointer(start: t.pointer, count: t.count * MemoryLayout<Float>.stride)
    return String(format: "%016llx", StateHash.mix(StateHash.offsetBasis, bytes))
}

/// A rank's bytes to each peer by transport, as its reports carry them.
func reportedLinks(_ traffic: LinkTraffic) -> [ReportedLink] {
    traffic.links.map { ReportedLink(peer: $0.peer, transport: $0.transport.rawValue, bytes: $0.bytes) }
}
