import Foundation

/// What one training step did, in the terms every kind of step shares, so that one driver can account for a
/// single process, a data-parallel replica and a pipeline stage alike.
public struct StepRecord: Sendable {
    /// Mean loss over the step's rows (on a pipeline stage: its replica's, passed back from the last stage).
    public var loss: Float
    public var correct: Int
    public var samples: Int
    public var computeSeconds: Double = 0
    public var allReduceSeconds: Double = 0
    public var waitSeconds: Double = 0
    /// The gradient norm the update was decided on, the same on every rank (not finite: the step diverged).
    public var gradientNorm: Float = 0
    /// Monotonic nanoseconds when the step began and when its optimizer update ended.
    public var start: UInt64
    public var end: UInt64

    public init(
        loss: Float, correct: Int, samples: Int, computeSeconds: Double = 0, allReduceSeconds: Double = 0,
        waitSeconds: Double = 0, gradientNorm: Float = 0, start: UInt64, end: UInt64
    ) {
        self.gradientNorm = gradientNorm
        self.loss = loss
        self.correct = correct
        self.samples = samples
        self.computeSeconds = computeSeconds
        self.allReduceSeconds = allReduceSeconds
        self.waitSeconds = waitSeconds
        self.start = start
        self.end = end
    }

    /// The step's own wall time (batch loading to optimizer update).
    public var nanoseconds: UInt64 { end - start }
}

/// Running sums over steps: an epoch, a progress window, or the whole run.
public struct StepTotals: Sendable {
    public var steps = 0, samples = 0, correct = 0
    /// Sum of the steps' mean losses (the workers' reports average per step).
    public var lossSum = 0.0
    /// Sum of loss × rows (the single process averages per example).
    public var exampleLossSum = 0.0
    public var compute = 0.0, allReduce = 0.0, wait = 0.0
    /// Wall seconds the totals span (set by whoever closes the window).
    public var seconds = 0.0
    /// Sum of the steps' own wall times.
    public var stepNanos: UInt64 = 0

    public init() {}

    public mutating func add(_ r: StepRecord) {
        steps += 1
        samples += r.samples
        correct += r.correct
        lossSum += Double(r.loss)
        exampleLossSum += Double(r.loss) * Double(r.samples)
        compute += r.computeSeconds
        allReduce += r.allReduceSeconds
        wait += r.waitSeconds
        stepNanos += r.nanoseconds
    }

    /// The control plane's progress message for these totals.
    public func report(rank: Int, epoch: Int, step: Int, stepsPerEpoch: Int, totalSteps: Int) -> ProgressReport {
        ProgressReport(
            rank: rank, epoch: epoch, step: step, stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps,
            steps: steps, samples: samples, loss: lossSum / Double(max(steps, 1)),
            accuracy: Double(correct) / Double(max(samples, 1)), seconds: seconds,
            computeSeconds: compute, allReduceSeconds: allReduce, waitSeconds: wait)
    }
}

/// The steps after the warm-up, with their medians: the step time a benchmark quotes, robust to the bursts
/// other processes on a shared machine cause.
struct SteadyStateWindow {
    let warmupSteps: Int?
    private var window = StepWindow()
    private var stepSeconds: [Double] = []
    private var computeSeconds: [Double] = []

    init(warmupSteps: Int?) { self.warmupSteps = warmupSteps }

    /// After optimizer step `step` (1-based).
    mutating func add(_ r: StepRecord, afterStep step: Int) {
        guard let warmupSteps, step > warmupSteps else { return }
        let seconds = Double(r.nanoseconds) / 1e9
        window.steps += 1
        window.samples += r.samples
        window.seconds += seconds
        stepSeconds.append(seconds)
        computeSeconds.append(r.computeSeconds)
        window.computeSeconds += r.computeSeconds
        window.allReduceSeconds += r.allReduceSeconds
        window.waitSeconds += r.waitSeconds
    }

    /// Nil when no warm-up was asked for.
    var result: StepWindow? {
        guard warmupSteps != nil else { return nil }
        var w = window
        if !stepSeconds.isEmpty {
            w.medianStepSeconds = stepSeconds.sorted()[stepSeconds.count / 2]
            w.medianComputeSeconds = computeSeconds.sorted()[computeSeconds.count / 2]
        }
        return w
    }
}
