import Config
import Foundation

/// Runs one trial run to the end on a slot and reports its outcome (blocking; called on its own thread).
/// `cancelAll` stops every run in flight (the study is being stopped: their outcomes are not recorded).
public protocol TrialLauncher: AnyObject, Sendable {
    func run(_ run: TrialRun, config: TrialConfig, slot: Int) -> TrialOutcome
    func cancelAll()
}

/// What the study reports as it goes (each call on the runner's thread).
public protocol StudyObserver: AnyObject {
    func started(_ run: TrialRun, config: TrialConfig, slot: Int)
    func finished(_ run: TrialRun, outcome: TrialOutcome, progress: StudyProgress)
}

/// Counts for progress lines.
public struct StudyProgress: Sendable {
    public var runsDone: Int
    public var trialsStarted: Int
    public var trials: Int
    public var best: (trial: Int, metric: Double)?
}

/// The study loop: fills free slots from the unfinished runs of a resumed study first, then from the scheduler;
/// appends every start and result to the study file as it happens; stops when nothing runs and nothing can start.
public final class StudyRunner: @unchecked Sendable {
    public let spec: TuneSpec
    public let configs: TrialConfigs
    public let file: StudyFile
    let launcher: any TrialLauncher
    let slots: Int
    private var scheduler: any TrialScheduler
    private var pending: [TrialRun]
    private var running: [Int: TrialRun] = [:]
    private let condition = NSCondition()
    private var finished: [(slot: Int, run: TrialRun, outcome: TrialOutcome)] = []
    private var stopRequested = false
    /// Test hook: stop (as a kill would) after this many results were written.
    public var stopAfterResults: Int?

    public init(spec: TuneSpec, file: StudyFile, launcher: any TrialLauncher, slots: Int) {
        self.spec = spec
        configs = TrialConfigs(spec: spec)
        self.file = file
        self.launcher = launcher
        self.slots = max(1, slots)
        var scheduler = spec.makeScheduler(count: configs.count)
        file.replay(into: &scheduler)
        self.scheduler = scheduler
        pending = file.unfinished
    }

    /// Asks the loop to stop: running trials are cancelled and their outcomes not recorded (they re-run on resume).
    public func stop() {
        condition.lock()
        stopRequested = true
        condition.signal()
        condition.unlock()
        launcher.cancelAll()
    }

    /// Runs until the study is complete or stopped; returns whether it completed.
    @discardableResult
    public func run(observer: (any StudyObserver)? = nil) throws -> Bool {
        while true {
            try fillSlots(observer: observer)
            condition.lock()
            if stopRequested || running.isEmpty {
                let complete = !stopRequested
                condition.unlock()
                return complete
            }
            while finished.isEmpty && !stopRequested { condition.wait() }
            let done = stopRequested ? [] : finished
            finished = []
            for d in done { running[d.slot] = nil }
            condition.unlock()
            for d in done { try record(d.run, outcome: d.outcome, observer: observer) }
        }
    }

    private func fillSlots(observer: (any StudyObserver)?) throws {
        for slot in 0..<slots {
            condition.lock()
            let busy = running[slot] != nil || stopRequested
            condition.unlock()
            if busy { continue }
            guard let run = pending.isEmpty ? scheduler.next() : pending.removeFirst() else { return }
            let config = configs.config(run.trial)
            try file.append(StudyRecord(event: "start", run: run, config: config))
            observer?.started(run, config: config, slot: slot)
            condition.lock()
            running[slot] = run
            condition.unlock()
            Thread.detachNewThread { [self] in
                let outcome = launcher.run(run, config: config, slot: slot)
                condition.lock()
                finished.append((slot, run, outcome))
                condition.signal()
                condition.unlock()
            }
        }
    }

    private func record(_ run: TrialRun, outcome: TrialOutcome, observer: (any StudyObserver)?) throws {
        var result = StudyRecord(
            event: "result", run: run, config: configs.config(run.trial), metric: outcome.metric,
            seconds: outcome.seconds, error: outcome.error)
        result.resumedFromStep = outcome.resumedFromStep
        try file.append(result)
        scheduler.record(run, metric: outcome.metric)
        observer?.finished(run, outcome: outcome, progress: progress)
        if let limit = stopAfterResults, file.results.count >= limit { stop() }
    }

    public var progress: StudyProgress {
        let results = file.results
        var best: (trial: Int, metric: Double)?
        for r in results {
            guard let trial = r.trial, let metric = r.metric, metric.isFinite else { continue }
            if let b = best, b.metric > metric || (b.metric == metric && b.trial < trial) { continue }
            best = (trial, metric)
        }
        let started = Set(file.records.filter { $0.event == "start" }.compactMap(\.trial)).count
        return StudyProgress(runsDone: results.count, trialsStarted: started, trials: configs.count, best: best)
    }
}
