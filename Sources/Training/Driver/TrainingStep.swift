import Datasets

/// One way of taking a training step: a single process, a data-parallel replica, a pipeline stage. The
/// `EpochDriver` runs the epochs around it, so the cursor, reports, checkpoints and evaluation are written once.
public protocol TrainingStep: AnyObject {
    /// What an epoch-end evaluation yields (the adapters report different shares of the test set).
    associatedtype Evaluation
    /// The trainer whose weights, optimizer and step count checkpoints save.
    var trainer: Trainer { get }
    /// Runs global batch `index` of the epoch whose shuffled order is `permutation`, update included.
    func step(_ index: Int, permutation: [Int]) throws -> StepRecord
    /// Evaluates the model at an epoch's end.
    func evaluate() throws -> Evaluation
}

/// What an epoch's end reports: its 0-based number, its steps' totals, and the optimizer steps done.
public struct EpochPoint: Sendable {
    public var epoch: Int
    public var totals: StepTotals
    public var step: Int
    /// Steps of this epoch whose update `on_divergence: skip_step` dropped (not in `totals`).
    public var skippedSteps = 0
}

/// The driver's account of a whole run.
public struct TrainingRun<Evaluation> {
    /// Optimizer steps done (resumed ones included).
    public var steps: Int
    /// The steps this run took; `seconds` is the run's wall time.
    public var totals: StepTotals
    /// The steps after the warm-up (nil without one).
    public var steady: StepWindow?
    /// The last epoch's evaluation (nil when no epoch ended).
    public var lastEvaluation: Evaluation?
    /// Steps whose update `on_divergence: skip_step` dropped.
    public var skippedSteps = 0

    /// The control plane's final report; `countsSamples` false for ranks whose samples another rank counts.
    public func finalReport(rank: Int, weightChecksum: String, countsSamples: Bool = true, test: (correct: Int, count: Int))
        -> FinalReport
    {
        FinalReport(
            rank: rank, weightChecksum: weightChecksum, steps: steps, samples: countsSamples ? totals.samples : 0,
            seconds: totals.seconds, computeSeconds: totals.compute, allReduceSeconds: totals.allReduce,
            waitSeconds: totals.wait, testCorrect: test.correct, testCount: test.count, steady: steady)
    }
}
