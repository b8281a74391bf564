import Config

/// One unit of a stage's work in a pipeline step: the forward or the backward pass of one micro-batch.
public enum PipelineOp: Hashable, Sendable, CustomStringConvertible {
    case forward(Int)
    case backward(Int)

    public var microBatch: Int {
        switch self {
        case .forward(let m), .backward(let m): return m
        }
    }

    public var isForward: Bool { if case .forward = self { return true } else { return false } }

    public var description: String {
        switch self {
        case .forward(let m): return "F\(m)"
        case .backward(let m): return "B\(m)"
        }
    }
}

/// The per-stage op lists of one pipeline step, as pure functions of (schedule, stage, stages, micro-batches), so
/// the worker, the simulator and the tests all run exactly the same order.
///
/// Both schedules run every micro-batch's forward and backward exactly once per stage and end with a flush (all
/// backwards done before the optimizer step), so the accumulated gradient is the same whichever is used; they
/// differ in idle time only at the edges and, mainly, in how many micro-batches' activations a stage holds.
public enum PipelineSchedules {
    /// Stage `stage`'s ops for one step of `microBatches` micro-batches over `stages` stages.
    public static func ops(_ schedule: PipelineSchedule, stage: Int, stages: Int, microBatches: Int) -> [PipelineOp] {
        precondition(
            stages >= 1 && (0..<stages).contains(stage) && microBatches >= 1,
            "pipeline schedule: stage \(stage) of \(stages), \(microBatches) micro-batches")
        switch schedule {
        case .gpipe: return gpipe(microBatches: microBatches)
        case .oneForwardOneBackward: return oneForwardOneBackward(stage: stage, stages: stages, microBatches: microBatches)
        }
    }

    /// GPipe (fill–drain): every forward, then every backward in the same micro-batch order (PyTorch's
    /// ScheduleGPipe). A stage holds all M micro-batches' activations at the turn.
    public static func gpipe(microBatches m: Int) -> [PipelineOp] {
        (0..<m).map(PipelineOp.forward) + (0..<m).map(PipelineOp.backward)
    }

    /// 1F1B with a flush (PipeDream-Flush / Megatron): stage s first runs min(K−s−1, M) warm-up forwards, then
    /// alternates one forward and one backward, then drains the remaining backwards. A stage never holds more than
    /// K − s ≤ K micro-batches' activations, whatever M.
    public static func oneForwardOneBackward(stage s: Int, stages k: Int, microBatches m: Int) -> [PipelineOp] {
        let warmup = min(k - s - 1, m)
        var ops: [PipelineOp] = (0..<warmup).map(PipelineOp.forward)
        for i in 0..<(m - warmup) {
            ops.append(.forward(warmup + i))
            ops.append(.backward(i))
        }
        for i in (m - warmup)..<m { ops.append(.backward(i)) }
        return ops
    }

    /// The most micro-batches any stage of the schedule keeps in flight (GPipe: all M; 1F1B: at most K): the layer
    /// copies (slots) the busiest stage makes, and so the models a grid's joiner makes ahead for whichever stage
    /// it is given.
    public static func maxInFlightOfAnyStage(_ schedule: PipelineSchedule, stages: Int, microBatches: Int) -> Int {
        guard stages >= 1, microBatches >= 1 else { return 1 }
        return (0..<stages).map {
            maxInFlight(ops(schedule, stage: $0, stages: stages, microBatches: microBatches))
        }.max() ?? 1
    }

    /// The largest number of micro-batches whose forward has run but whose backward has not, over an op list:
    /// the activations a stage must keep at once.
    public static func maxInFlight(_ ops: [PipelineOp]) -> Int {
        var live = 0
        var peak = 0
        for op in ops {
            live += op.isForward ? 1 : -1
            peak = max(peak, live)
        }
        return peak
    }
}
