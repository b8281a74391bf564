/// A rank's share of the test set: correct predictions, count, and summed loss (the coordinator sums over ranks).
public typealias TestShard = (correct: Int, count: Int, lossSum: Double)

/// A worker's end of the control plane, as training sees it: where its reports go, and the coordinator's stop.
/// `WorkerControl` (the cluster's DEALER channel, in Runtime) is the one conformer; Training and Parallel never
/// touch the transport.
public protocol WorkerControlChannel: AnyObject {
    /// Why the coordinator stopped the job; nil while it runs.
    var stopReason: String? { get }
    /// Queues `message` for the coordinator.
    func post(_ message: ControlMessage)
    /// Set when the coordinator went silent past the peer deadline (not when it said stop): the job cannot go on,
    /// and the rank that writes checkpoints saves its last completed step before stopping.
    var coordinatorLoss: RuntimeError? { get }
}

extension WorkerControlChannel {
    public var coordinatorLoss: RuntimeError? { nil }
}

/// What a cluster worker's reports become: control-plane messages, the same for data-parallel and pipeline ranks.
public struct WorkerReports {
    public let rank: Int
    public let control: (any WorkerControlChannel)?
    public let stepsPerEpoch: Int
    public let totalSteps: Int
    /// The rank's bytes per link so far, attached to each progress report (nil: none counted).
    public var linkBytes: (() -> [ReportedLink])? = nil

    public init(rank: Int, control: (any WorkerControlChannel)?, stepsPerEpoch: Int, totalSteps: Int) {
        self.rank = rank
        self.control = control
        self.stepsPerEpoch = stepsPerEpoch
        self.totalSteps = totalSteps
    }

    public func reports<Step: TrainingStep>(for _: Step.Type) -> EpochDriver<Step>.Reports where Step.Evaluation == TestShard {
        var r = EpochDriver<Step>.Reports()
        let (rank, control, stepsPerEpoch, totalSteps, linkBytes) = (rank, control, stepsPerEpoch, totalSteps, linkBytes)
        r.beforeStep = {
            if let loss = control?.coordinatorLoss { throw loss }
            if let reason = control?.stopReason { throw RuntimeError.stopped(reason) }
        }
        r.coordinatorLoss = { control?.coordinatorLoss }
        r.progress = { p in
            var report = p.window.report(
                rank: rank, epoch: p.epoch, step: p.step, stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
            report.links = linkBytes?()
            control?.post(.progress(report))
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
