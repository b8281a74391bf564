import Config
import Foundation

/// Runs one trial run to the end on a slot and reports its outcome (blocking; called on its own thread).
/// `cancelAll` stops every run in flight (the study is being stopped: their outcomes are not recorded).
public protocol TrialLauncher: AnyObject, Sendable {
    func run(_ run: TrialRun, config: TrialConfig, slot: Int) -> TrialOutcome
    /// ASHA's stopping type: trains `run`'s trial on, calling `reached` with each run's outcome as its budget is
    /// passed (or as it fails); `reached` answers the run to go on with, or nil to stop the trial there.
    func runOn(_ run: TrialRun, config: TrialConfig, slot: Int, reached: (TrialRun, TrialOutcome) -> TrialRun?)
    func cancelAll()
}

extension TrialLauncher {
    /// One `run` per rung, for launchers that cannot train on in one go.
    public func runOn(_ run: TrialRun, config: TrialConfig, slot: Int, reached: (TrialRun, TrialOutcome) -> TrialRun?) {
        var current = run
        while let next = reached(current, self.run(current, config: config, slot: slot)) { current = next }
    }
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

/// What a slot's thread tells the study loop: a run's outcome (`awaitsDecision`: a stopping-type trial waits for
/// the answer in `decisions`), or, with no outcome, that the slot is free again.
private struct SlotReport {
    let slot: Int
    let run: TrialRun
    let outcome: TrialOutcome?
    let awaitsDecision: Bool
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
    private var reports: [SlotReport] = []
    private var decisions: [Int: TrialRun?] = [:]
    private var stopRequested = false
    private var stopping: Bool { spec.scheduler == .asha && spec.ashaType == .stopping }
    /// Test hook: stop (as a kill would) after this many results were written.
    public var stopAfterResults: Int?

    public init(spec: TuneSpec, file: StudyFile, launcher: any TrialLauncher, slots: Int) {
        self.spec = spec
        configs = TrialConfigs(spec: spec)
        self.file = file
        self.launcher = launcher
        self.slots = max(1, slots)
        var scheduler = spec.makeScheduler(count: configs.count)
        let decided = file.replay(into: &scheduler, score: spec.score)
        self.scheduler = scheduler
        pending = file.unfinished + decided
    }

    /// Asks the loop to stop: running trials are cancelled and their outcomes not recorded (they re-run on resume).
    public func stop() {
        condition.lock()
        stopRequested = true
        condition.broadcast()
        condition.unlock()
        launcher.cancelAll()
    }

    /// Runs until the study is complete or stopped; returns whether it completed.
    @discardableResult
    public func run(observer: (any StudyObserver)? = nil) throws -> Bool {
        do {
            while true {
                try fillSlots(observer: observer)
                condition.lock()
                if stopRequested || running.isEmpty {
                    let complete = !stopRequested
                    condition.unlock()
                    return complete
                }
                while reports.isEmpty && !stopRequested { condition.wait() }
                let batch = stopRequested ? [] : reports
                reports = []
                for r in batch where !r.awaitsDecision { running[r.slot] = nil }
                condition.unlock()
                for r in batch { try handle(r, observer: observer) }
            }
        } catch {
            stop()  // no slot's thread waits for a decision that will not come
            throw error
        }
    }

    /// Records an outcome; for a trial waiting at its rung, starts the run it goes on with (or none) and answers.
    private func handle(_ r: SlotReport, observer: (any StudyObserver)?) throws {
        guard let outcome = r.outcome else { return }
        let next = try record(r.run, outcome: outcome, observer: observer)
        guard r.awaitsDecision else { return }
        if let next {
            try file.append(StudyRecord(event: "start", run: next, config: configs.config(next.trial)))
            observer?.started(next, config: configs.config(next.trial), slot: r.slot)
        }
        condition.lock()
        if let next { running[r.slot] = next }
        decisions[r.slot] = .some(next)
        condition.broadcast()
        condition.unlock()
    }

    /// Called on a slot's thread when a stopping-type trial passes its run's budget: reports and waits for the answer.
    private func reached(_ run: TrialRun, _ outcome: TrialOutcome, slot: Int) -> TrialRun? {
        condition.lock()
        defer { condition.unlock() }
        guard !stopRequested else { return nil }
        reports.append(SlotReport(slot: slot, run: run, outcome: outcome, awaitsDecision: true))
        condition.broadcast()
        while decisions[slot] == nil && !stopRequested { condition.wait() }
        return decisions.removeValue(forKey: slot) ?? nil
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
                var outcome: TrialOutcome?
                if stopping {
                    launcher.runOn(run, config: config, slot: slot) { reached($0, $1, slot: slot) }
                } else {
                    outcome = launcher.run(run, config: config, slot: slot)
                }
                condition.lock()
                reports.append(SlotReport(slot: slot, run: run, outcome: outcome, awaitsDecision: false))
                condition.broadcast()
                condition.unlock()
            }
        }
    }

    private func record(_ run: TrialRun, outcome: TrialOutcome, observer: (any StudyObserver)?) throws -> TrialRun? {
        var result = StudyRecord(
            event: "result", run: run, config: configs.config(run.trial), metric: outcome.metric,
            seconds: outcome.seconds, error: outcome.error)
        result.resumedFromStep = outcome.resumedFromStep
        try file.append(result)
        let next = scheduler.record(run, metric: spec.score(outcome.metric))
        observer?.finished(run, outcome: outcome, progress: progress)
        if let limit = stopAfterResults, file.results.count >= limit {
            stop()
            return nil
        }
        return next
    }

    public var progress: StudyProgress {
        let results = file.results
        var best: (trial: Int, metric: Double)?
        for r in results {
            guard let trial = r.trial, let metric = r.metric, metric.isFinite, let score = spec.score(metric) else { continue }
            if let b = best, let bs = spec.score(b.metric), bs > score || (bs == score && b.trial < trial) { continue }
            best = (trial, metric)
        }
        let started = Set(file.records.filter { $0.event == "start" }.compactMap(\.trial)).count
        return StudyProgress(runsDone: results.count, trialsStarted: started, trials: configs.count, best: best)
    }
}
