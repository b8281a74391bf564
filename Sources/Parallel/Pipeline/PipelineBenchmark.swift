import Collectives
import Config
import Datasets
import Foundation
import NN
import Training

/// The measured figures of one pipeline configuration (medians over the timed steps).
public struct PipelineMeasurement: Sendable {
    public var stages: Int
    public var microBatches: Int
    public var schedule: PipelineSchedule
    /// Whole step: first stage's start to the last optimizer step's end.
    public var stepSeconds: Double
    /// Start to flush (the forward/backward phase the bubble is defined on).
    public var pipelineSeconds: Double
    /// Mean over stages of 1 − busy / pipeline time.
    public var bubble: Double
    public var samplesPerSecond: Double
    /// Micro-batches' activations the busiest stage held at once (its slot count).
    public var maxStashed: Int
    /// Bytes sent between stages per step (activations + gradients, all stages).
    public var bytesPerStep: Int
    /// Per-stage medians, the simulator's input.
    public var costs: [StageCosts]
}

/// Runs K stages as threads of this process over inproc:// (one replica, the real `PipelineStageWorker`), with a
/// barrier before each step so the stages start together, and measures step time, the bubble and the per-stage
/// forward/backward/transfer times. Stages beyond the core count share cores (reported, not judged).
public enum PipelineBenchmark {
    /// A model of four identical Dense blocks (width → width, ReLU between), run with `uniformStages` so that the
    /// first stage, like every other, computes its input gradient: K stages of 4/K blocks each then do the same
    /// work in forward and in backward, which is what (K−1)/(M+K−1) assumes. (Balancing only the totals, with a
    /// wider first layer to make up for the skipped input gradient, leaves stage 0 heavier in forward and lighter
    /// in backward: GPipe then idles through both phases, 0.045 above theory at K=2, M=16.) The last stage's extra
    /// work is the softmax cross-entropy over `width` classes: 0.3–0.4 ms of a 34 ms micro-batch at width 1024,
    /// M = 8. `inputWidth` (default `width`) unbalances the first stage on purpose.
    public static func balancedJob(width: Int = 256, batch: Int = 1024, inputWidth: Int? = nil) -> JobSpec {
        var job = JobSpec()
        job.model.layers = [inputWidth ?? width, width, width, width, width]
        job.model.activation = "relu"
        job.data.dataset = "synthetic"
        job.data.maxTrainExamples = batch * 4
        job.data.maxTestExamples = 100
        job.batchSize = batch
        job.steps = 1_000_000
        job.seed = 11
        job.optimizer.name = "momentum"
        job.optimizer.lr = 0.01
        return job
    }

    public static func measure(
        job: JobSpec, data: JobData, stages k: Int, microBatches m: Int, schedule: PipelineSchedule,
        warmup: Int, steps: Int
    ) throws -> PipelineMeasurement {
        let comms = try Communicator.local(size: k)
        // A stage with a core of its own has nothing else to do while it waits for its neighbour: spinning up to
        // a millisecond takes the frame without a wake-up (tens of µs here, on every op's critical path).
        let spin = k <= ProcessInfo.processInfo.activeProcessorCount ? 1000 : 50
        for c in comms {
            c.options.timeout = 60
            c.options.spinMicroseconds = spin
        }
        let parallelism = ParallelismSpec(dataParallel: 1, pipelineStages: k, microBatches: m, schedule: schedule)
        let (all, slots) = try runStages(comms, job: job, data: data, parallelism: parallelism, warmup: warmup, steps: steps)
        return summarize(all, slots: slots, job: job, parallelism: parallelism)
    }

    /// Every stage as a thread, `warmup + steps` barrier-aligned steps; the timed steps' timings per stage.
    static func runStages(
        _ comms: [Communicator], job: JobSpec, data: JobData, parallelism: ParallelismSpec, warmup: Int, steps: Int
    ) throws -> (timings: [[PipelineStepTiming]], slots: [Int]) {
        let k = comms.count
        let box = TimingBox(stages: k)
        let group = DispatchGroup()
        for comm in comms {
            group.enter()
            let t = Thread {
                defer { group.leave() }
                do {
                    let a = Assignment(
                        rank: comm.rank, worldSize: k, peers: [], hosts: Array(repeating: "localhost", count: k),
                        layout: RankLayout(dataParallel: 1, pipelineStages: k), job: job, parallelism: parallelism,
                        timeouts: TimeoutSpec(), checkpoint: nil, run: RunOptions())
                    let w = try PipelineStageWorker(
                        assignment: a, data: data, communicator: comm, control: nil, uniformStages: true)
                    let batch = BatchBuffer(capacity: job.batchSize, featureCount: data.train.featureCount)
                    let perm = w.plan.permutation(epoch: 0)
                    var timings: [PipelineStepTiming] = []
                    for i in 0..<(warmup + steps) {
                        try comm.barrier()
                        let r = try w.trainStep(step: i % w.plan.stepsPerEpoch, permutation: perm, batch: batch)
                        if i >= warmup { timings.append(r.timing) }
                    }
                    box.set(comm.rank, timings, slots: w.slotCount)
                } catch {
                    box.fail(error)
                }
            }
            t.stackSize = 4 << 20
            t.start()
        }
        group.wait()
        return try box.result()
    }

    /// Medians over the timed steps: step and pipeline time, bubble, bytes between stages; and the stage costs.
    static func summarize(
        _ all: [[PipelineStepTiming]], slots: [Int], job: JobSpec, parallelism: ParallelismSpec
    ) -> PipelineMeasurement {
        let k = all.count
        let steps = all.map(\.count).min() ?? 0
        var stepS: [Double] = []
        var pipeS: [Double] = []
        var bubbles: [Double] = []
        var bytes: [Int] = []
        for i in 0..<steps {
            let t = all.map { $0[i] }
            // The step begins when its first stage does (data enters the pipeline): a later stage that left the
            // barrier earlier was only waiting for the step to begin, as the simulator's stages do from time 0.
            let start = t[0].start
            let pipe = Double((t.map(\.flushed).max() ?? start) - start) / 1e9
            stepS.append(Double((t.map(\.end).max() ?? start) - start) / 1e9)
            pipeS.append(pipe)
            bubbles.append(t.reduce(0.0) { $0 + (1 - $1.busySeconds / pipe) } / Double(k))
            bytes.append(t.reduce(0) { $0 + $1.bytesSent })
        }
        return PipelineMeasurement(
            stages: k, microBatches: parallelism.microBatches, schedule: parallelism.schedule, stepSeconds: median(stepS),
            pipelineSeconds: median(pipeS), bubble: median(bubbles),
            samplesPerSecond: Double(job.batchSize) / median(stepS), maxStashed: slots.max() ?? 0,
            bytesPerStep: bytes.isEmpty ? 0 : bytes.sorted()[bytes.count / 2], costs: stageCosts(all))
    }

    /// Per stage: median forward and backward op time (compute plus the op's own copy-in and hand-off, the work
    /// the bubble does not count as idle); transfer latency as the median gap between a sender's op end and the
    /// receiver's op start, less that work, over the ops where the receiver was already idle, waiting.
    static func stageCosts(_ all: [[PipelineStepTiming]]) -> [StageCosts] {
        let k = all.count
        var costs: [StageCosts] = []
        for s in 0..<k {
            var f: [Double] = []
            var b: [Double] = []
            var act: [Double] = []
            var grad: [Double] = []
            for (i, t) in all[s].enumerated() {
                for span in t.spans {
                    let d = Double(span.end - span.start) / 1e9 + t.transferWork(of: span.op)
                    if span.op.isForward { f.append(d) } else { b.append(d) }
                    // Latency of what this stage sent: measured at the receiver.
                    if span.op.isForward, s + 1 < k, let r = all[s + 1][i].spans.first(where: { $0.op == span.op }) {
                        let prevEnd = all[s + 1][i].spans.firstIndex { $0.op == span.op }.map {
                            $0 > 0 ? all[s + 1][i].spans[$0 - 1].end : all[s + 1][i].start
                        }!
                        if prevEnd <= span.end && r.start >= span.end {
                            act.append(
                                max(
                                    0,
                                    Double(r.start - span.end) / 1e9 - t.transferWork(of: span.op)
                                        - all[s + 1][i].transferWork(of: span.op)))
                        }
                    }
                    if !span.op.isForward, s > 0, let r = all[s - 1][i].spans.first(where: { $0.op == span.op }) {
                        let prevEnd = all[s - 1][i].spans.firstIndex { $0.op == span.op }.map {
                            $0 > 0 ? all[s - 1][i].spans[$0 - 1].end : all[s - 1][i].start
                        }!
                        if prevEnd <= span.end && r.start >= span.end {
                            grad.append(
                                max(
                                    0,
                                    Double(r.start - span.end) / 1e9 - t.transferWork(of: span.op)
                                        - all[s - 1][i].transferWork(of: span.op)))
                        }
                    }
                }
            }
            costs.append(
                StageCosts(
                    forward: median(f), backward: median(b),
                    sendActivation: act.isEmpty ? 0 : median(act), sendGradient: grad.isEmpty ? 0 : median(grad)))
        }
        return costs
    }

    static func median(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return 0 }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

private final class TimingBox: @unchecked Sendable {
    private let lock = NSLock()
    private var timings: [[PipelineStepTiming]]
    private var slots: [Int]
    private var error: Error?
    init(stages: Int) {
        timings = Array(repeating: [], count: stages)
        slots = Array(repeating: 0, count: stages)
    }
    func set(_ s: Int, _ t: [PipelineStepTiming], slots n: Int) {
        lock.lock()
        timings[s] = t
        slots[s] = n
        lock.unlock()
    }
    func fail(_ e: Error) {
        lock.lock()
        error = error ?? e
        lock.unlock()
    }
    func result() throws -> ([[PipelineStepTiming]], [Int]) {
        lock.lock()
        defer { lock.unlock() }
        if let error { throw error }
        return (timings, slots)
    }
}
