import Collectives
import Config
import Datasets
import Foundation
import NN
import Tensors
import Training

/// Timings of one pipeline step on one stage (monotonic nanoseconds, comparable across threads and processes of
/// one host), for the benchmark, the simulator and traces.
public struct PipelineStepTiming: Sendable {
    /// When the stage began the step (after loading its data).
    public var start: UInt64 = 0
    /// When its last forward/backward op ended (the flush).
    public var flushed: UInt64 = 0
    /// When the optimizer step ended.
    public var end: UInt64 = 0
    /// Per op, in execution order: the op, when its compute began (after its input arrived) and ended.
    public var spans: [(op: PipelineOp, start: UInt64, end: UInt64)] = []
    /// The whole model's gradient norm the update was decided on (the same on every stage and replica).
    public var gradientNorm: Float = 0
    /// Seconds in the data-parallel all-reduce of this stage's gradients.
    public var allReduceSeconds = 0.0
    /// Bytes this stage sent to its neighbours (activations forward, gradients backward).
    public var bytesSent = 0
    /// Waits for a neighbour's activations or gradients, per op.
    public var receives: [(op: PipelineOp, start: UInt64, end: UInt64)] = []
    /// Handing each op's output to the transport (zero-copy: returns before the bytes are on the wire).
    public var sends: [(op: PipelineOp, start: UInt64, end: UInt64, bytes: Int)] = []
    /// The data-parallel all-reduce of this stage's gradients, if any.
    public var allReduceSpan: (start: UInt64, end: UInt64)?
    /// Copying each arrived frame into the stage's own buffer, per op (work the stage does, not waiting).
    public var copies: [(op: PipelineOp, start: UInt64, end: UInt64)] = []
    /// Seconds the stage worked: forward and backward compute, copying arrived inputs in, and handing outputs to
    /// the transport. The rest of the flush window it was idle, waiting for a neighbour: that is the bubble.
    public var busySeconds: Double {
        let compute = spans.reduce(UInt64(0)) { $0 + ($1.end - $1.start) }
        let copy = copies.reduce(UInt64(0)) { $0 + ($1.end - $1.start) }
        let send = sends.reduce(UInt64(0)) { $0 + ($1.end - $1.start) }
        return Double(compute + copy + send) / 1e9
    }

    /// Seconds of the stage's own transfer work (copy in, hand off) for `op`.
    public func transferWork(of op: PipelineOp) -> Double {
        let c = copies.first { $0.op == op }.map { $0.end - $0.start } ?? 0
        let s = sends.first { $0.op == op }.map { $0.end - $0.start } ?? 0
        return Double(c + s) / 1e9
    }
}

/// One pipeline stage of one data-parallel replica: layers `partition.layerRanges[stage]` of the job's model.
///
/// Per global batch, the replica's rows are cut into M micro-batches and run in the schedule's op order
/// (`PipelineSchedules`): a forward receives its input from the previous stage (the first stage loads data) and
/// sends its output on; a backward receives ∂loss/∂output from the next stage (the last stage takes it from the loss,
/// averaged over the GLOBAL batch) and sends ∂loss/∂input back. Transfers are point-to-point between neighbour
/// workers, zero-copy from the layer's output buffer, under the peer deadline. Parameter gradients accumulate over
/// the micro-batches; after the flush each stage all-reduces its slice within its data-parallel group and takes one
/// optimizer step, so the update equals one non-pipelined step on the same global batch.
///
/// Activations of in-flight micro-batches: each in-flight micro-batch runs on its own copy of the stage's layer
/// objects (a "slot") bound to the same parameter and gradient buffers, so its layers' saved inputs and outputs
/// stay intact until its backward; the schedule fixes how many slots a stage needs (GPipe M, 1F1B ≤ K).
/// (Dropout masks therefore come from per-slot generators and differ from a non-pipelined run's.)
public final class PipelineStageWorker {
    public let assignment: Assignment
    public let data: JobData
    public let stage: Int
    public let stages: Int
    public let replica: Int
    public let partition: StagePartition
    public let ops: [PipelineOp]
    public let microBatches: Int
    public let trainer: Trainer
    public let plan: EpochPlan
    /// The stage's parameters (a view into the full model's flat buffer).
    public var parameters: Tensor { trainer.model.parameters }
    /// Activation slots this stage holds at most (= the schedule's in-flight peak).
    public var slotCount: Int { slots.count }

    let comm: Communicator?
    let dataParallelGroup: Communicator?
    let pipelineGroup: Communicator?
    /// How far the last update got (`StageUpdateRecord`), for an elastic grid's agreement after a loss.
    public var updates = StageUpdateRecord()
    /// Called on the training thread after each completed step, with the trainer's step count (elastic training
    /// times its recovery to the first step of a new membership with it).
    public var onStepDone: ((Int) -> Void)?
    /// Elastic training: why this membership has ended (the coordinator formed a newer one), or nil; checked
    /// before each step, so that a step begun after the abort fails at once rather than at its first receive.
    /// Its argument: whether the last step's gate carried a vote to leave (`joinPending`).
    public var membershipEnded: ((_ pipelineVotedToLeave: Bool) -> String?)?
    /// Elastic training: whether this stage knows of a membership that admits a joiner. Its vote goes round the
    /// replica's stages with the gate, so that they all leave after the same step: a stage that left alone would
    /// strand a neighbour that had begun the next step in a receive from it, until its fallback abort.
    public var joinPending: (() -> Bool)?
    /// Whether the last step's gate carried a vote to leave.
    private var pipelineVotedToLeave = false
    /// Elastic training: told when an epoch's evaluation begins (true) and ends (false), which a join's fallback
    /// abort waits for.
    public var evaluating: ((Bool) -> Void)?
    private let control: (any WorkerControlChannel)?
    /// The neighbour stages (nil for one stage alone).
    let links: StageLinks?
    private let totalSteps: Int
    /// The run's trace (with `--trace`), which each step adds its timings to.
    private var trace: ChromeTrace?
    private lazy var batch = BatchBuffer(capacity: maxRows, featureCount: data.train.featureCount)
    let previous: Int?
    let next: Int?

    struct Slot {
        let model: Sequential
        let loss: SoftmaxCrossEntropy
        let input: Tensor  // received activations [maxRows, inputFeatures] (stage > 0)
        let outputGradient: Tensor  // received ∂loss/∂output [maxRows, outputFeatures] (not the last stage)
        let activationSent = StageSend()
        let gradientSent = StageSend()

        /// `model`'s slot with receive buffers for `maxRows` rows: activations where a stage comes before it,
        /// gradients where one comes after it.
        init(model: Sequential, loss: SoftmaxCrossEntropy, maxRows: Int, stage: Int, stages: Int) {
            self.model = model
            self.loss = loss
            input = Tensor(shape: [stage > 0 ? maxRows : 0, model.inputFeatures])
            outputGradient = Tensor(shape: [stage < stages - 1 ? maxRows : 0, model.outputFeatures])
        }

        /// The same model and loss with receive buffers for `maxRows` rows (an elastic grid's next replica count)
        /// and handles of its own.
        func resized(maxRows: Int, stage: Int, stages: Int) -> Slot {
            Slot(model: model, loss: loss, maxRows: maxRows, stage: stage, stages: stages)
        }
    }
    let slots: [Slot]
    private let maxRows: Int

    public var rank: Int { assignment.rank }
    public var isFirst: Bool { stage == 0 }
    public var isLast: Bool { stage == stages - 1 }

    /// `communicator`: the world communicator (nil only for one stage and one replica). `partition` nil: the
    /// cluster file's `parallelism.stage_layers`, or else balanced by estimated FLOPs. `uniformStages`: the first
    /// stage also computes ∂loss/∂input (and discards it), so that stages holding identical layers do identical
    /// work in both directions — the balanced pipeline the (K−1)/(M+K−1) bubble is defined on (the benchmark's).
    /// `continuing`: this process's stage in the elastic membership that ended, whose model and trainer go on.
    /// `prebuilt`: models of the job made ahead (a grid's joiner makes them while the members train), used before
    /// any is made here: the first as the full model, the rest for the slots.
    public init(
        assignment: Assignment, data: JobData, communicator: Communicator?, control: (any WorkerControlChannel)?,
        partition: StagePartition? = nil, uniformStages: Bool = false, continuing: PipelineStageWorker? = nil,
        prebuilt: [Sequential] = []
    ) throws {
        let layout = assignment.layout
        self.assignment = assignment
        self.data = data
        self.control = control
        let coords = layout.coordinates(ofRank: assignment.rank)
        stage = coords.stage
        stages = layout.pipelineStages
        replica = coords.replica
        let job = assignment.job
        var full: Sequential?
        let part: StagePartition
        if let continuing {
            guard continuing.stage == stage, continuing.stages == stages else {
                throw RuntimeError.invalid(
                    "rank \(assignment.rank): stage \(continuing.stage) of \(continuing.stages) cannot continue as stage \(stage) of \(stages)"
                )
            }
            part = continuing.partition
        } else {
            let model = try prebuilt.first ?? job.makeModel()
            part = try Self.resolvePartition(partition, of: model, assignment: assignment)
            full = model
        }
        self.partition = part
        microBatches = assignment.parallelism.microBatches
        guard microBatches >= 1 else {
            throw RuntimeError.invalid("parallelism.micro_batches: must be at least 1, got \(microBatches)")
        }
        ops = PipelineSchedules.ops(assignment.parallelism.schedule, stage: stage, stages: stages, microBatches: microBatches)
        plan = job.epochPlan(exampleCount: data.train.count, ranks: layout.dataParallel)
        guard plan.stepsPerEpoch > 0 else {
            throw RuntimeError.invalid("job.batch_size: \(job.batchSize) leaves no step in \(data.train.count) examples")
        }
        totalSteps = job.steps ?? job.epochs * plan.stepsPerEpoch
        maxRows = (job.batchSize + layout.dataParallel - 1) / layout.dataParallel
        let range = part.layerRanges[stage]

        let inFlight = PipelineSchedules.maxInFlight(ops)
        let slots: [Slot]
        if let continuing {
            guard continuing.slots.count == inFlight else {
                throw RuntimeError.invalid("rank \(assignment.rank): \(continuing.slots.count) slots cannot become \(inFlight)")
            }
            let (rows, k) = (maxRows, layout.pipelineStages)
            slots = continuing.slots.map { $0.resized(maxRows: rows, stage: coords.stage, stages: k) }
        } else {
            slots = try Self.makeSlots(
                inFlight, full: full ?? job.makeModel(), spare: Array(prebuilt.dropFirst()), job: job, layers: range,
                threads: assignment.run.threads, stage: stage, stages: stages, maxRows: maxRows,
                uniformStages: uniformStages)
        }
        self.slots = slots
        guard job.distillation == nil && job.compression == nil else {
            throw RuntimeError.invalid(
                "job.\(job.distillation != nil ? "distillation" : "compression"): not supported with pipeline stages (use data parallelism)"
            )
        }
        trainer = try continuing?.trainer ?? Self.makeTrainer(job, model: slots[0].model, assignment, totalSteps: totalSteps)

        comm = communicator
        let (previous, next) = (layout.previousStage(ofRank: assignment.rank), layout.nextStage(ofRank: assignment.rank))
        self.previous = previous
        self.next = next
        links = communicator.map { StageLinks(communicator: $0, previous: previous, next: next) }
        if (previous != nil || next != nil || layout.dataParallel > 1) && communicator == nil {
            throw RuntimeError.invalid("pipeline stage \(stage) of replica \(replica) needs a communicator")
        }
        (dataParallelGroup, pipelineGroup) = try Self.groups(
            communicator, layout: layout, assignment: assignment, stage: stage, replica: replica)
        if let continuing { updates = continuing.updates }
    }

    /// Penalties are element-wise (each stage applies them to its slice); clipping takes the whole pipeline's
    /// norm, which `update` passes the trainer a reducer for.
    private static func makeTrainer(_ job: JobSpec, model: Sequential, _ assignment: Assignment, totalSteps: Int) throws
        -> Trainer
    {
        let optimizer = try job.makeOptimizer()
        optimizer.threads = assignment.run.threads
        return Trainer(
            model: model, optimizer: optimizer, schedule: job.makeSchedule(totalSteps: totalSteps),
            regularization: job.makeRegularization())
    }

    /// The given partition, else the cluster file's `stage_layers`, else balanced by FLOPs; `pipeline_stages` parts.
    private static func resolvePartition(
        _ partition: StagePartition?, of full: Sequential, assignment: Assignment
    ) throws -> StagePartition {
        let stages = assignment.layout.pipelineStages
        let part =
            try partition ?? assignment.parallelism.stageLayers.map { try StagePartition.explicit(full, blocksPerStage: $0) }
            ?? StagePartition.balanced(full, stages: stages)
        guard part.stages == stages else {
            throw RuntimeError.invalid("pipeline partition has \(part.stages) stages, parallelism.pipeline_stages is \(stages)")
        }
        return part
    }

    /// One slot per micro-batch in flight. Slot 0 uses the full model's own layers; the others fresh layer objects
    /// (a `spare` model's while they last) bound to the same parameter and gradient buffers, each with its own
    /// activations.
    private static func makeSlots(
        _ count: Int, full: Sequential, spare: [Sequential], job: JobSpec, layers range: Range<Int>, threads: Int,
        stage: Int, stages: Int,
        maxRows: Int, uniformStages: Bool
    ) throws -> [Slot] {
        try (0..<count).map { i in
            let owner = i == 0 ? full : try i - 1 < spare.count ? spare[i - 1] : job.makeModel()
            if i > 0 {
                for l in range {
                    owner.layers[l].bind(
                        parameters: slice(full.parameters, full.layerRanges[l]),
                        gradients: slice(full.gradients, full.layerRanges[l]))
                }
            }
            let m = owner.stage(range)
            m.threads = threads
            m.accumulatesGradients = true
            m.computesInputGradient = stage > 0 || uniformStages
            return Slot(model: m, loss: SoftmaxCrossEntropy(), maxRows: maxRows, stage: stage, stages: stages)
        }
    }

    /// The stage's data-parallel group (its replicas, for the gradient all-reduce) and the replica's pipeline
    /// group (the whole model's gradient norm, for clipping and a divergence every stage stops at alike).
    private static func groups(
        _ communicator: Communicator?, layout: RankLayout, assignment: Assignment, stage: Int, replica: Int
    ) throws -> (dataParallel: Communicator?, pipeline: Communicator?) {
        guard let communicator else { return (nil, nil) }
        let dataParallel =
            layout.dataParallel > 1 && assignment.run.allReduce
            ? try communicator.subgroup(ranks: layout.dataParallelGroup(stage: stage), tag: 0x5050) : nil
        let pipeline =
            layout.pipelineStages > 1
            ? try communicator.subgroup(ranks: layout.pipeline(replica: replica), tag: 0x5051) : nil
        return (dataParallel, pipeline)
    }

    // MARK: one step

    /// Runs one global batch `step` of `permutation`'s epoch through this stage and updates its parameters.
    /// Returns the batch's loss (mean over the replica's rows; known on every stage: the last stage passes it back)
    /// and the replica's correct predictions, with this stage's timings.
    public func trainStep(step s: Int, permutation: [Int], batch: BatchBuffer) throws -> (
        loss: Float, correct: Int, rows: Int, timing: PipelineStepTiming
    ) {
        let indices = plan.rankBatch(step: s, rank: replica, permutation: permutation)
        let x: Tensor? = isFirst ? batch.load(indices, from: data.train).x : nil
        let labels: [Int32] = isLast ? indices.map { data.train.labels[$0] } : []
        var timing = PipelineStepTiming()
        timing.start = DispatchTime.now().uptimeNanoseconds
        trainer.model.zeroGradients()
        var run = ScheduleRun(
            rows: indices.count, globalRows: plan.globalBatchRange(step: s).count, microBatches: microBatches,
            free: Array(slots.indices.reversed()))
        try labels.withUnsafeBufferPointer { labels in
            for op in ops {
                switch op {
                case .forward: try forward(op, x: x, labels: labels, &run, &timing)
                case .backward: try backward(op, &run, &timing)
                }
            }
        }
        for slot in slots {
            try slot.activationSent.wait()
            try slot.gradientSent.wait()
        }
        timing.flushed = DispatchTime.now().uptimeNanoseconds
        let summary = try exchangeSummary(lossSum: run.lossSum, correct: run.correct)
        try update(&timing)
        timing.end = DispatchTime.now().uptimeNanoseconds
        let rows = indices.count
        return (rows > 0 ? summary.lossSum / Float(rows) : 0, summary.correct, rows, timing)
    }

    /// Where the schedule stands within one step: which slot holds each in-flight micro-batch, which are free,
    /// and the last stage's running loss.
    private struct ScheduleRun {
        let rows: Int
        let globalRows: Int
        let microBatches: Int
        var free: [Int]
        lazy var slotOf = [Int](repeating: -1, count: microBatches)
        var lossSum = 0.0
        var correct = 0

        init(rows: Int, globalRows: Int, microBatches: Int, free: [Int]) {
            self.rows = rows
            self.globalRows = globalRows
            self.microBatches = microBatches
            self.free = free
        }

        /// The replica's rows of micro-batch `m`.
        func rows(of m: Int) -> Range<Int> { EpochPlan.shardRows(batchSize: rows, rank: m, ranks: microBatches) }
    }

    /// A forward op: takes a free slot, receives (or loads) its input, computes, and sends the output on.
    private func forward(
        _ op: PipelineOp, x: Tensor?, labels: UnsafeBufferPointer<Int32>, _ run: inout ScheduleRun,
        _ timing: inout PipelineStepTiming
    ) throws {
        let m = op.microBatch
        let r = run.rows(of: m)
        let k = run.free.removeLast()
        run.slotOf[m] = k
        let slot = slots[k]
        try slot.activationSent.wait()
        let input: Tensor
        if let previous {
            input = slot.input.rows(0..<r.count)
            try receive(into: input, from: previous, op: op, &timing)
        } else if let x {
            input = x.rows(r)
        } else {
            throw RuntimeError.invalid("pipeline stage \(stage): the first stage has no batch loaded")
        }
        // The span is the compute alone: stamped before the send, which may wake the receiver and get this
        // thread preempted on a busy machine.
        let t0 = DispatchTime.now().uptimeNanoseconds
        guard !r.isEmpty else {
            timing.spans.append((op, t0, t0))
            if let next { try links?.sendEmpty(to: next) }
            return
        }
        let out = slot.model.forward(input, training: true)
        if isLast {
            let y = UnsafeBufferPointer(rebasing: labels[r])
            run.lossSum += Double(slot.loss.forward(logits: out, labels: y)) * Double(r.count)
            run.correct += correctPredictions(out, labels: y)
        }
        timing.spans.append((op, t0, DispatchTime.now().uptimeNanoseconds))
        if let next { try send(out, to: next, handle: slot.activationSent, op: op, &timing) }
    }

    /// A backward op: receives ∂loss/∂output (the last stage takes it from the loss), computes, sends ∂loss/∂input
    /// back, and frees the micro-batch's slot.
    private func backward(_ op: PipelineOp, _ run: inout ScheduleRun, _ timing: inout PipelineStepTiming) throws {
        let m = op.microBatch
        let r = run.rows(of: m)
        let k = run.slotOf[m]
        let slot = slots[k]
        try slot.gradientSent.wait()
        var dy: Tensor? = nil
        if let next {
            let g = slot.outputGradient.rows(0..<r.count)
            try receive(into: g, from: next, op: op, &timing)
            dy = g
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        if r.isEmpty {
            timing.spans.append((op, t0, t0))
            if let previous { try links?.sendEmpty(to: previous) }
        } else {
            if isLast { dy = slot.loss.backward(normalizer: run.globalRows) }
            guard let dy else { throw RuntimeError.invalid("pipeline stage \(stage): no output gradient for \(op)") }
            let dx = slot.model.backward(dy)
            timing.spans.append((op, t0, DispatchTime.now().uptimeNanoseconds))
            if let previous, let dx { try send(dx, to: previous, handle: slot.gradientSent, op: op, &timing) }
        }
        run.free.append(k)
    }

    /// The replica's loss lives on the last stage: passed back so every stage reports the same figures.
    private func exchangeSummary(lossSum: Double, correct: Int) throws -> (lossSum: Float, correct: Int) {
        var summary: [Float] = [Float(lossSum), Float(correct)]
        if let next { try summary.withUnsafeMutableBytes { _ = try links?.receive(into: $0, from: next) } }
        if let previous { try summary.withUnsafeBytes { try links?.send($0, to: previous) } }
        return (summary[0], Int(summary[1]))
    }

    /// What ends a step once its schedule has run (`update`): the all-reduce and the update of the gradients now
    /// in the model; the gradient norm.
    @discardableResult
    public func reduceAndUpdate() throws -> Float {
        var timing = PipelineStepTiming()
        try update(&timing)
        return timing.gradientNorm
    }

    /// The data-parallel all-reduce of this stage's slice, then the update: penalties, clipping by the norm of
    /// the WHOLE model's gradient (the squares summed over the pipeline's stages), the optimizer step.
    private func update(_ timing: inout PipelineStepTiming) throws {
        if let group = dataParallelGroup {
            let t = DispatchTime.now().uptimeNanoseconds
            try group.allReduce(trainer.model.gradients.buffer, op: .sum)
            let e = DispatchTime.now().uptimeNanoseconds
            timing.allReduceSeconds = Double(e - t) / 1e9
            timing.allReduceSpan = (t, e)
        }
        let step = trainer.step
        updates.pendingStep = step
        updates.penalized = false
        var voted = false
        timing.gradientNorm = try trainer.applyUpdate(squaredNorm: { [updates] squared in
            updates.penalized = true
            guard let pipelineGroup else { return squared }
            var sq = [squared, joinPending?() == true ? 1 : 0]
            try pipelineGroup.allReduce(&sq, op: .sum)
            updates.gate = (step, sq[0])
            voted = sq[1] > 0
            return sq[0]
        })
        pipelineVotedToLeave = voted
        updates.pendingStep = nil
    }

    // MARK: transfers

    private func raw(_ t: Tensor) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: t.pointer, count: t.count * MemoryLayout<Float>.stride)
    }

    private func mutableRaw(_ t: Tensor) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: t.pointer, count: t.count * MemoryLayout<Float>.stride)
    }

    /// Receives into `t`, timing the wait for the neighbour and the copy in apart.
    private func receive(into t: Tensor, from peer: Int, op: PipelineOp, _ timing: inout PipelineStepTiming) throws {
        let w = DispatchTime.now().uptimeNanoseconds
        let arrived = try links?.receive(into: mutableRaw(t), from: peer) ?? w
        let done = DispatchTime.now().uptimeNanoseconds
        timing.receives.append((op, w, done))
        timing.copies.append((op, arrived, done))
    }

    /// Hands `t` to the transport zero-copy (`handle` to wait on before `t` is written again), timing the hand-off.
    private func send(
        _ t: Tensor, to peer: Int, handle: StageSend, op: PipelineOp, _ timing: inout PipelineStepTiming
    ) throws {
        let w = DispatchTime.now().uptimeNanoseconds
        try links?.sendAsync(raw(t), to: peer, handle: handle)
        timing.bytesSent += t.count * 4
        timing.sends.append((op, w, DispatchTime.now().uptimeNanoseconds, t.count * 4))
    }

    // MARK: the whole job

    /// Trains the whole job; reports progress and epochs through the control plane, like the data-parallel worker.
    /// `agreedStep`: the step the stages of a new elastic membership agreed on (`agreeStageState`), their
    /// replicas already identical; nil starts the job (from the common checkpoint with `--resume`).
    public func run(agreedStep: Int? = nil) throws -> FinalReport {
        let checkpoints = assignment.checkpoint.map { TrainingCheckpoints(spec: stageCheckpointSpec($0)) }
        var options = EpochDriver<PipelineStageWorker>.Options(
            plan: plan, epochs: (totalSteps + plan.stepsPerEpoch - 1) / plan.stepsPerEpoch, totalSteps: totalSteps)
        if let agreedStep {
            options.resumeAt = ResumePoint(
                step: agreedStep, epoch: agreedStep / plan.stepsPerEpoch, stepInEpoch: agreedStep % plan.stepsPerEpoch)
        } else {
            if assignment.run.resume, let checkpoints, let point = try restoreCommonCheckpoint(checkpoints) {
                options.resumeAt = point
            }
            if let group = dataParallelGroup { try group.broadcast(parameters.buffer, root: 0) }
        }
        options.warmupSteps = assignment.run.warmupSteps
        // Each stage keeps its own slice (replica 0's: the replicas' weights are identical).
        options.checkpoints = replica == 0 ? checkpoints : nil
        options.seed = assignment.job.seed
        options.onDivergence = assignment.job.divergencePolicy
        options.rank = rank
        trace = assignment.run.tracePath.map { _ in ChromeTrace(rank: rank) }
        let reports = WorkerReports(
            rank: rank, control: control, stepsPerEpoch: plan.stepsPerEpoch, totalSteps: totalSteps
        ).reports(for: PipelineStageWorker.self)
        let run = try EpochDriver(step: self, options: options, reports: reports).run()
        try writeTrace()
        let test = run.lastEvaluation ?? (0, 0, 0)
        // Samples are counted once per replica (on its last stage), so the cluster's throughput is not K-fold.
        return run.finalReport(
            rank: rank, weightChecksum: try replicaChecksum(), countsSamples: isLast, test: (test.correct, test.count))
    }

    private func writeTrace() throws {
        guard let trace, let path = assignment.run.tracePath else { return }
        do { try trace.write(to: ChromeTrace.rankFile(path, rank: rank)) } catch {
            throw RuntimeError.invalid(
                "--trace: cannot write \(ChromeTrace.rankFile(path, rank: rank)): \(error.localizedDescription)")
        }
    }

    /// The checksums of the replica's stages, first to last, joined by "/": the same string on every stage of a
    /// replica, and equal across replicas exactly when their weights are (what the launcher compares).
    public func replicaChecksum() throws -> String {
        var sums = [UInt64](repeating: 0, count: stages)
        sums[stage] = UInt64(weightChecksum(parameters), radix: 16)!
        // Up the pipeline, each stage adding its own; then the full list back down.
        if let previous {
            try sums.withUnsafeMutableBytes { _ = try links?.receive(into: $0, from: previous) }
            sums[stage] = UInt64(weightChecksum(parameters), radix: 16)!
        }
        if let next {
            try sums.withUnsafeBytes { try links?.send($0, to: next) }
            try sums.withUnsafeMutableBytes { _ = try links?.receive(into: $0, from: next) }
        }
        if let previous { try sums.withUnsafeBytes { try links?.send($0, to: previous) } }
        return sums.map { String(format: "%016llx", $0) }.joined(separator: "/")
    }

    /// Scores this replica's contiguous share of `set` by pushing it through the pipeline in evaluation mode, in
    /// chunks of up to `chunk` rows. Only the last stage sees the predictions: it returns (correct, count, loss sum);
    /// the other stages return zeros, so the coordinator's sums over ranks count every test example once.
    public func evaluate(_ set: LabeledDataset, chunk: Int = 1000) throws -> (Int, Int, Double) {
        let share = EpochPlan.shardRows(batchSize: set.count, rank: replica, ranks: assignment.layout.dataParallel)
        guard !share.isEmpty else { return (0, 0, 0) }
        let model = slots[0].model
        let input = Tensor(shape: [isFirst ? 0 : min(chunk, share.count), model.inputFeatures])
        let buffer = BatchBuffer(capacity: isFirst ? min(chunk, share.count) : 0, featureCount: set.featureCount)
        let loss = SoftmaxCrossEntropy()
        var correct = 0
        var lossSum = 0.0
        var lo = share.lowerBound
        while lo < share.upperBound {
            let hi = min(lo + chunk, share.upperBound)
            let x: Tensor
            if let previous {
                x = input.rows(0..<(hi - lo))
                try links?.receive(into: mutableRaw(x), from: previous)
            } else {
                x = buffer.load(Array(lo..<hi)[...], from: set).x
            }
            let out = model.forward(x, training: false)
            if let next {
                try links?.send(raw(out), to: next)
            } else {
                let y = Array(set.labels[lo..<hi])
                y.withUnsafeBufferPointer { y in
                    lossSum += Double(loss.forward(logits: out, labels: y)) * Double(hi - lo)
                    correct += correctPredictions(out, labels: y)
                }
            }
            lo = hi
        }
        return isLast ? (correct, share.count, lossSum) : (0, 0, 0)
    }
}

extension PipelineStageWorker: TrainingStep {
    public typealias Evaluation = TestShard

    public func step(_ index: Int, permutation: [Int]) throws -> StepRecord {
        if let reason = membershipEnded?(pipelineVotedToLeave) {
            throw CollectiveError.aborted(operation: "step", me: rank, epoch: assignment.membershipEpoch, reason: reason)
        }
        let global = trainer.step
        let (loss, correct, rows, t) = try trainStep(step: index, permutation: permutation, batch: batch)
        trace?.add(step: global, t)
        onStepDone?(trainer.step)
        let busy = t.busySeconds
        return StepRecord(
            loss: loss, correct: correct, samples: rows, computeSeconds: busy, allReduceSeconds: t.allReduceSeconds,
            waitSeconds: Double(t.end - t.start) / 1e9 - busy - t.allReduceSeconds, gradientNorm: t.gradientNorm,
            start: t.start, end: t.end)
    }

    public func evaluate() throws -> TestShard {
        evaluating?(true)
        defer { evaluating?(false) }
        return try evaluate(data.test)
    }
}
