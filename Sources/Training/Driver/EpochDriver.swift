import Config
import Datasets
import Foundation

/// The epoch loop every training path shares: the resume cursor, the step budget, progress windows, the
/// steady-state window, checkpoint cadence (`CheckpointSpec.isDue`, the one rule), epoch-end evaluation and the
/// run's totals. The step itself, and what a report becomes, belong to the caller.
public final class EpochDriver<Step: TrainingStep> {
    public struct Options {
        public var plan: EpochPlan
        public var epochs: Int
        public var totalSteps: Int
        public var resumeAt = ResumePoint(step: 0, epoch: 0, stepInEpoch: 0)
        public var warmupSteps: Int? = nil
        public var progress: ProgressCadence = .workers
        /// Where this rank saves (nil: it does not; replicas leave it to one of them).
        public var checkpoints: TrainingCheckpoints? = nil
        public var seed: UInt64 = 0
        public var onDivergence: DivergencePolicy = .stop
        /// Named in a divergence error.
        public var rank = 0

        public init(plan: EpochPlan, epochs: Int, totalSteps: Int) {
            self.plan = plan
            self.epochs = epochs
            self.totalSteps = totalSteps
        }
    }

    /// Where reports go. `epochEnded` returns true to end the run there (early stopping).
    public struct Reports {
        public var progress: (ProgressPoint) -> Void = { _ in }
        public var epochEnded: (EpochPoint, Step.Evaluation) throws -> Bool = { _, _ in false }
        public var checkpointed: (_ step: Int, _ path: String) -> Void = { _, _ in }
        /// Before each step: throws to stop the run (the coordinator's stop).
        public var beforeStep: () throws -> Void = {}
        /// The coordinator's loss, once the control plane has declared it (nil while it lives).
        public var coordinatorLoss: () -> RuntimeError? = { nil }
        public init() {}
    }

    public let step: Step
    public let options: Options
    public var reports: Reports

    public init(step: Step, options: Options, reports: Reports = Reports()) {
        self.step = step
        self.options = options
        self.reports = reports
    }

    /// Runs from the resume point to the step budget (or an early stop).
    public func run() throws -> TrainingRun<Step.Evaluation> {
        let runStart = DispatchTime.now().uptimeNanoseconds
        var state = RunState(
            step: options.resumeAt.step, progress: ProgressWindow(cadence: options.progress, now: runStart),
            steady: SteadyStateWindow(warmupSteps: options.warmupSteps))
        let resumeAt = options.resumeAt
        var evaluation: Step.Evaluation? = nil
        for epoch in resumeAt.epoch..<max(options.epochs, resumeAt.epoch) {
            let first = epoch == resumeAt.epoch ? resumeAt.stepInEpoch : 0
            let skippedBefore = state.skipped
            let totals = try runEpoch(epoch, from: first, &state)
            let skipped = state.skipped - skippedBefore
            // An epoch the budget left empty ends the run; a resumed epoch whose cursor was at its end still closes.
            if totals.steps + skipped == 0 && first == 0 { break }
            let e = try step.evaluate()
            evaluation = e
            let point = EpochPoint(epoch: epoch, totals: totals, step: state.step, skippedSteps: skipped)
            let stop = try reports.epochEnded(point, e)
            if let c = options.checkpoints, c.spec.isDue(afterEpoch: epoch + 1) {
                // An epoch the step budget cut short keeps its cursor, so that a longer run resumed from here
                // takes the rest of this epoch's batches, as an uninterrupted run would.
                let reached = first + totals.steps + skipped
                let cursor = reached < options.plan.stepsPerEpoch ? (epoch, reached) : (epoch + 1, 0)
                let path = try c.save(step.trainer, epoch: cursor.0, stepInEpoch: cursor.1, seed: options.seed)
                reports.checkpointed(state.step, path)
            }
            if stop { break }
        }
        // Resumed with no step left (an elastic membership formed after the last step, which may have cut the
        // last epoch's evaluation short): the run still ends with the model's test figures.
        if evaluation == nil, resumeAt.step > 0, resumeAt.step >= options.totalSteps {
            evaluation = try step.evaluate()
        }
        state.total.seconds = Double(DispatchTime.now().uptimeNanoseconds - runStart) / 1e9
        return TrainingRun(
            steps: state.step, totals: state.total, steady: state.steady.result, lastEvaluation: evaluation,
            skippedSteps: state.skipped)
    }

    private struct RunState {
        var step: Int
        var total = StepTotals()
        var progress: ProgressWindow
        var steady: SteadyStateWindow
        var skipped = 0

        init(step: Int, progress: ProgressWindow, steady: SteadyStateWindow) {
            self.step = step
            self.progress = progress
            self.steady = steady
        }
    }

    /// The steps of `epoch` from `first` on, within the budget; their totals.
    private func runEpoch(_ epoch: Int, from first: Int, _ state: inout RunState) throws -> StepTotals {
        let plan = options.plan
        let permutation = plan.permutation(epoch: epoch)
        var totals = StepTotals()
        state.progress.epochBegins(now: DispatchTime.now().uptimeNanoseconds)
        for s in first..<plan.stepsPerEpoch where state.step < options.totalSteps {
            let r: StepRecord
            do {
                try reports.beforeStep()
                r = try step.step(s, permutation: permutation)
            } catch {
                throw savedOnCoordinatorLoss(error, completed: state.step, epoch: epoch, stepInEpoch: s)
            }
            if let diverged = TrainingDiverged.check(r, step: state.step + 1, rank: options.rank) {
                // Thrown before this step's checkpoint: the newest one on disk is the last good step's.
                guard options.onDivergence == .skipStep else { throw diverged }
                state.step += 1
                state.skipped += 1
                try checkpointIfDue(afterStep: state.step, epoch: epoch, stepInEpoch: s + 1)
                continue
            }
            state.step += 1
            totals.add(r)
            state.total.add(r)
            state.steady.add(r, afterStep: state.step)
            if let window = state.progress.add(r, isLastStep: state.step == options.totalSteps) {
                reports.progress(
                    ProgressPoint(epoch: epoch, stepInEpoch: s + 1, step: state.step, epochTotals: totals, window: window))
            }
            try checkpointIfDue(afterStep: state.step, epoch: epoch, stepInEpoch: s + 1)
        }
        return totals
    }

    /// A step stopped by the coordinator's loss (before it began, or its collective aborted by the control plane):
    /// the rank that writes checkpoints saves the last completed step `n`, so that `--resume` loses only the step
    /// in flight, and the error says where. Any other failure is returned as it is.
    private func savedOnCoordinatorLoss(_ error: Error, completed n: Int, epoch: Int, stepInEpoch: Int) -> Error {
        guard let loss = reports.coordinatorLoss() else { return error }
        guard case .coordinatorLost(let endpoint, let seconds, let closed) = loss else { return loss }
        // Every rank stays a moment before leaving, because leaving closes its links, and a saving rank, whose own
        // deadline may fall up to one heartbeat later, must find the coordinator's loss rather than this rank's
        // departure, or it would stop without saving. Savers stay too: a pipeline has one per stage.
        defer { Thread.sleep(forTimeInterval: Self.saverGraceSeconds) }
        guard let c = options.checkpoints else { return loss }
        // The interrupted step must have left the trainer at the completed one (its update never ran).
        guard step.trainer.step == n else {
            return RuntimeError.invalid("\(loss); no checkpoint: the trainer is at step \(step.trainer.step), not \(n)")
        }
        do {
            let path = try c.save(step.trainer, epoch: epoch, stepInEpoch: stepInEpoch, seed: options.seed)
            reports.checkpointed(n, path)
            return RuntimeError.coordinatorLostSaved(endpoint: endpoint, seconds: seconds, closed: closed, step: n, path: path)
        } catch {
            return RuntimeError.invalid("\(loss); saving step \(n) failed: \(error)")
        }
    }

    /// Longer than one heartbeat interval plus a control-loop turn at the default settings (0.5 s + 0.25 s).
    static var saverGraceSeconds: Double { 1.0 }

    private func checkpointIfDue(afterStep n: Int, epoch: Int, stepInEpoch: Int) throws {
        guard let c = options.checkpoints, c.spec.isDue(afterStep: n) else { return }
        let path = try c.save(step.trainer, epoch: epoch, stepInEpoch: stepInEpoch, seed: options.seed)
        reports.checkpointed(n, path)
    }
}
