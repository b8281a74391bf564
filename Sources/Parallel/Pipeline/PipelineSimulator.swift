import Config

/// Per-stage costs that drive the simulator (seconds).
public struct StageCosts: Sendable, Equatable {
    public var forward: Double
    public var backward: Double
    /// Latency of this stage's output activations reaching the next stage (unused on the last stage).
    public var sendActivation: Double
    /// Latency of this stage's input gradient reaching the previous stage (unused on the first stage).
    public var sendGradient: Double

    public init(forward: Double, backward: Double, sendActivation: Double = 0, sendGradient: Double = 0) {
        self.forward = forward
        self.backward = backward
        self.sendActivation = sendActivation
        self.sendGradient = sendGradient
    }
}

/// What one simulated step looked like.
public struct SimulatedStep: Sendable {
    /// From the first op's start to the last op's end (the flush).
    public var makespan: Double
    /// Compute seconds of each stage.
    public var busy: [Double]
    /// Mean over stages of the fraction of the makespan a stage was idle: the pipeline bubble.
    public var bubble: Double
    /// Micro-batches whose activations each stage held at once, at most.
    public var maxStashed: [Int]
    /// Every op's (stage, op, start, end).
    public var spans: [(stage: Int, op: PipelineOp, start: Double, end: Double)]
}

/// A discrete-event model of one pipeline step: each stage runs its op list (`PipelineSchedules`) in order, one op at
/// a time; F(s, m) may start once F(s−1, m)'s output has arrived, B(s, m) once B(s+1, m)'s gradient has arrived (and,
/// on the last stage, once F(s, m) is done). Sends are asynchronous (the worker's zero-copy sends return at once),
/// so a transfer only delays its receiver. The same op lists as the worker, so what it predicts is what runs.
public enum PipelineSimulator {
    public enum Failure: Error, CustomStringConvertible {
        /// No stage could make progress: the op lists wait on each other.
        case deadlock(stage: Int, op: PipelineOp)
        public var description: String {
            switch self {
            case .deadlock(let s, let op): return "pipeline schedule deadlocks: stage \(s) waits forever at \(op)"
            }
        }
    }

    public static func simulate(_ schedule: PipelineSchedule, microBatches m: Int, costs: [StageCosts]) throws -> SimulatedStep {
        let k = costs.count
        let lists = (0..<k).map { PipelineSchedules.ops(schedule, stage: $0, stages: k, microBatches: m) }
        return try simulate(lists: lists, microBatches: m, costs: costs)
    }

    /// Runs arbitrary per-stage op lists (so tests can show a bad order is caught as a deadlock).
    public static func simulate(lists: [[PipelineOp]], microBatches m: Int, costs: [StageCosts]) throws -> SimulatedStep {
        let k = lists.count
        precondition(costs.count == k, "simulate: \(costs.count) stage costs for \(k) stages")
        var fEnd = Array(repeating: Array(repeating: Double?.none, count: m), count: k)
        var bEnd = fEnd
        var next = Array(repeating: 0, count: k)
        var free = Array(repeating: 0.0, count: k)
        var busy = Array(repeating: 0.0, count: k)
        var spans: [(stage: Int, op: PipelineOp, start: Double, end: Double)] = []
        var remaining = lists.reduce(0) { $0 + $1.count }
        while remaining > 0 {
            var progressed = false
            for s in 0..<k {
                while next[s] < lists[s].count {
                    let op = lists[s][next[s]]
                    let ready: Double?
                    switch op {
                    case .forward(let mb):
                        ready = s == 0 ? 0 : fEnd[s - 1][mb].map { $0 + costs[s - 1].sendActivation }
                    case .backward(let mb):
                        if s == k - 1 {
                            ready = fEnd[s][mb]
                        } else {
                            ready = bEnd[s + 1][mb].map { $0 + costs[s + 1].sendGradient }
                        }
                        if fEnd[s][mb] == nil { throw Failure.deadlock(stage: s, op: op) }  // backward before its forward
                    }
                    guard let r = ready else { break }
                    let start = max(free[s], r)
                    let cost = op.isForward ? costs[s].forward : costs[s].backward
                    let end = start + cost
                    if op.isForward { fEnd[s][op.microBatch] = end } else { bEnd[s][op.microBatch] = end }
                    free[s] = end
                    busy[s] += cost
                    spans.append((s, op, start, end))
                    next[s] += 1
                    remaining -= 1
                    progressed = true
                }
            }
            if !progressed {
                let s = (0..<k).first { next[$0] < lists[$0].count }!
                throw Failure.deadlock(stage: s, op: lists[s][next[s]])
            }
        }
        let makespan = free.max() ?? 0
        let bubble = makespan > 0 ? busy.reduce(0) { $0 + (1 - $1 / makespan) } / Double(k) : 0
        return SimulatedStep(
            makespan: makespan, busy: busy, bubble: bubble,
            maxStashed: lists.map(PipelineSchedules.maxInFlight), spans: spans)
    }

    /// The textbook bubble of a balanced pipeline: (K − 1) / (M + K − 1).
    public static func theoreticalBubble(stages k: Int, microBatches m: Int) -> Double {
        Double(k - 1) / Double(m + k - 1)
    }
}
