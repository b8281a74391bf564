/// A rank's share of the test set: correct predictions, count, and summed loss (the coordinator sums over ranks).
public typealias TestShard = (correct: Int, count: Int, lossSum: Double)

/// What a cluster worker's reports become: control-plane messages, the same for data-parallel and pipeline ranks.
struct WorkerReports {
    let rank: Int
    let control: WorkerControl?
    let stepsPerEpoch: Int
    let totalSteps: Int

    func reports<Step: TrainingStep>(for _: Step.Type) -> EpochDriver<Step>.Reports where Step.Evaluation == TestShard {
        var r = EpochDriver<Step>.Reports()
        let (rank, control, stepsPerEpoch, totalSteps) = (rank, control, stepsPerEpoch, totalSteps)
        r.beforeStep = {
            if let reason = control?.stopReason { throw RuntimeError.stopped(reason) }
        }
        r.progress = { p in
            control?.post(
                .progress(
                    p.window.report(
                        rank: rank, epoch: p.epoch, step: p.step, stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)))
        }
        r.epochEnded = { point, test in
            control?.post(
                .epoch(
                    EpochReport(
                        rank: rank, epoch: point.epoch, trainLoss: point.totals.lossSum / Double(max(point.totals.steps, 1)),
                        testCorrect: test.correct, testCount: test.count, testLossSum: test.lossSum)))
            return false
        }
        r.checkpointed = { step, path in control?.post(.checkpointed(rank: rank, step: step, path: path)) }
        return r
    }
}
