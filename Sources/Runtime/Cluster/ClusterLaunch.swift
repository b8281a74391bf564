import Config
import Foundation
import Training
import Transport

/// What a launch shows while it runs. The CLI's progress display is one; a caller that wants silence (a benchmark)
/// passes one that does nothing. Called from the launching thread and from process-exit handlers, so it is
/// `Sendable` and must lock what it shares.
public protocol ClusterLaunchObserver: AnyObject, Sendable {
    /// Everything the coordinator reports (rendezvous, progress, epochs, checkpoints, warnings).
    func show(_ event: CoordinatorEvent)
    /// A line about the worker processes themselves (one exited with a failure status).
    func note(_ line: String)
    /// The job succeeded: its summary.
    func finish(_ summary: JobSummary)
    /// The job failed: end whatever is half drawn, before the error is printed.
    func clear()
}

/// Runs a whole cluster from this process: the coordinator here, the workers as processes (local ones as
/// children, remote ones over ssh). The launch and its workers share one fate:
/// - a worker process that exits with a failure status during the rendezvous ends it at once (no waiting out
///   `rendezvous_timeout_s`), named by rank and host;
/// - SIGINT or SIGTERM stops every worker and exits this process with status 130;
/// - a failed job stops the workers still running before its error is rethrown.
/// Used by `cohort launch` and `cohort bench scaling`. `watch` may attach a `CoordinatorObserver` (the status
/// endpoint) to the coordinator before the rendezvous; it hears every event and the job's end.
///
/// A pipeline under `elastic.restart` is restarted whole when a worker dies or fails (a stage cannot be rebuilt
/// from its peers): every worker is stopped, and after `backoff_s` the job runs again with `--resume`, from the
/// newest checkpoint every stage holds, at most `max_restarts` times. Then, or without `elastic:`, the failure ends
/// the launch as before (the checkpoints stay valid).
public func launchCluster(
    _ cluster: ClusterConfig, run: RunOptions, observer: some ClusterLaunchObserver,
    watch: (Coordinator) throws -> (any CoordinatorObserver)? = { _ in nil }
) throws -> JobSummary {
    let stages = cluster.parallelism.pipelineStages
    guard stages > 1, let policy = cluster.elastic?.restart else {
        return try launchOnce(cluster, run: run, observer: observer, watch: watch)
    }
    var run = run
    var restarts = 0
    while true {
        do {
            return try launchOnce(cluster, run: run, observer: observer, watch: watch)
        } catch let error as RuntimeError where error.isWorkerLoss {
            try restartPipeline(after: error, policy: policy, restarts: &restarts, cluster, observer)
            run.resume = true
        }
    }
}

extension RuntimeError {
    /// A worker died or failed while the job ran: what restarting a pipeline job can cure (not a bad config, a
    /// refused rendezvous or an interrupt).
    fileprivate var isWorkerLoss: Bool {
        switch self {
        case .peerDead, .workerFailed: return true
        default: return false
        }
    }
}

/// A pipeline's death or failure under `elastic.restart`: says so and waits out the backoff, or rethrows `error`
/// once `max_restarts` are used.
private func restartPipeline(
    after error: RuntimeError, policy: RestartPolicy, restarts: inout Int, _ cluster: ClusterConfig,
    _ observer: some ClusterLaunchObserver
) throws {
    guard restarts < policy.maxRestarts else {
        observer.note("pipeline not restarted: elastic.restart.max_restarts \(policy.maxRestarts) used")
        throw error
    }
    restarts += 1
    observer.note(
        "pipeline job failed: \(error); restarting all \(cluster.totalWorkers) workers from the newest checkpoint "
            + "every stage holds in \(policy.backoff) s (restart \(restarts) of \(policy.maxRestarts))")
    if policy.backoff > 0 { usleep(UInt32(min(policy.backoff, 3600) * 1e6)) }
}

/// One run of the job: coordinator, workers, supervision to the end or the first failure.
private func launchOnce(
    _ cluster: ClusterConfig, run: RunOptions, observer: some ClusterLaunchObserver,
    watch: (Coordinator) throws -> (any CoordinatorObserver)?
) throws -> JobSummary {
    let coordinator = try Coordinator(config: cluster, run: run)
    let watcher = try watch(coordinator)
    coordinator.observer = watcher
    coordinator.onEvent = {
        observer.show($0)
        watcher?.coordinatorEvent($0)
    }
    let endpoint = dialableEndpoint(bound: coordinator.endpoint, host: cluster.cluster.coordinator.host)
    // The coordinator's proof is the workers': the cluster key, or the job's token (generated for this launch
    // when the cluster file names no token_file), which reaches them through their environment or stdin.
    let launcher = Launcher(config: cluster, coordinatorEndpoint: endpoint, security: coordinator.security)
    let interrupt = InterruptHandler { launcher.stopAll(grace: 1) }
    defer { interrupt.cancel() }
    let abandon = coordinator.rendezvousAbandon
    let exits = coordinator.exits
    let ending = coordinator.jobEnding
    // A lone pipeline's workers are not restarted one by one: the whole job is (`launchCluster`). A grid's are:
    // a dead stage and the stages its replica dismissed rejoin as a replica.
    let stages = max(cluster.parallelism.pipelineStages, 1)
    let restarts = WorkerRestarts(
        policy: stages > 1 && cluster.totalWorkers / stages <= 1 ? nil : cluster.elastic?.restart, launcher: launcher,
        ended: { ending.reason != nil }, note: { observer.note($0) })
    let onExit: @Sendable (PlannedRank, Int32, Int32) -> Void = { planned, pid, status in
        exits.add(host: planned.address, pid: pid, status: status)
        if status == WorkerExitStatus.dismissed {
            observer.note("worker rank \(planned.rank) on \(planned.address) left the job: its replica was dropped")
        } else if status != 0 {
            observer.note("worker rank \(planned.rank) on \(planned.address) exited with status \(status)")
            abandon.abandon("worker rank \(planned.rank) on \(planned.address) exited with status \(status)")
        }
    }
    restarts.onExit = onExit
    try launcher.start { planned, pid, status in
        onExit(planned, pid, status)
        if status != 0 { restarts.restart(planned) }
    }
    do {
        let summary = try coordinator.runJob()
        launcher.waitAll(timeout: 10)
        watcher?.jobEnded(summary, reason: nil)
        observer.finish(summary)
        return summary
    } catch {
        watcher?.jobEnded(nil, reason: "\(error)")
        // A job ended below `min_workers` told its survivors to stop: they exit by themselves, each with its line.
        if coordinator.jobEnding.reason != nil { launcher.waitAll(timeout: 5) }
        launcher.stopAll()
        observer.clear()
        throw error
    }
}

/// A wildcard bind (tcp://0.0.0.0:P) is dialled at the configured host name.
func dialableEndpoint(bound: String, host: String) -> String {
    guard bound.hasPrefix("tcp://0.0.0.0:") || bound.hasPrefix("tcp://*:") else { return bound }
    return advertisedEndpoint(bound: bound, host: host)
}

/// Runs `action` once on SIGINT or SIGTERM, then exits 130: children are stopped, nothing is orphaned.
final class InterruptHandler: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    init(_ action: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                // Byte for byte what the CLI printed when this lived there: its `printError` ("cohort: " + the
                // message) of "\ncohort: interrupted; …", where the newline was meant to end a redrawn progress line.
                FileHandle.standardError.write(Data("cohort: \ncohort: interrupted; stopping all workers\n".utf8))
                action()
                exit(130)
            }
            s.resume()
            sources.append(s)
        }
    }

    func cancel() {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// `elastic.restart`: a worker process that died (non-zero exit) while the job runs is started again after
/// `backoff_s`, at most `max_restarts` times over the whole job; the restarted worker registers with the running
/// coordinator and joins at the next membership. Without `elastic:`, once the workers are being stopped, or once
/// the coordinator has ended the job below `min_workers` (a restart could not hold up a job already stopping),
/// nothing is restarted. Restarts are started from one thread that lives as long as the launch: a local worker
/// asks for SIGKILL when the thread that started it ends (PR_SET_PDEATHSIG), so a pool thread would not do.
final class WorkerRestarts: @unchecked Sendable {
    private let policy: RestartPolicy?
    private let launcher: Launcher
    /// True once the coordinator decided the job ends (below `min_workers`): its survivors' exits are no deaths.
    private let ended: @Sendable () -> Bool
    private let note: @Sendable (String) -> Void
    private let condition = NSCondition()
    private var used = 0
    private var pending: [(planned: PlannedRank, due: Date)] = []
    private var thread: Thread?
    /// What a restarted worker's exit does (set once, before any worker starts).
    var onExit: (@Sendable (PlannedRank, Int32, Int32) -> Void)?

    init(
        policy: RestartPolicy?, launcher: Launcher, ended: @escaping @Sendable () -> Bool = { false },
        note: @escaping @Sendable (String) -> Void
    ) {
        self.policy = policy
        self.launcher = launcher
        self.ended = ended
        self.note = note
    }

    /// From a process-exit handler: queues `planned`'s restart, or says why there is none.
    func restart(_ planned: PlannedRank) {
        guard let policy, !launcher.isStopping, !ended() else { return }
        condition.lock()
        let allowed = used < policy.maxRestarts
        if allowed {
            used += 1
            pending.append((planned, Date().addingTimeInterval(policy.backoff)))
            startThreadLocked()
            condition.signal()
        }
        let count = used
        condition.unlock()
        guard allowed else {
            note(
                "worker rank \(planned.rank) on \(planned.address) not restarted: elastic.restart.max_restarts \(policy.maxRestarts) used"
            )
            return
        }
        note(
            "restarting worker rank \(planned.rank) on \(planned.address) in \(policy.backoff) s (restart \(count) of \(policy.maxRestarts))"
        )
    }

    private func startThreadLocked() {
        guard thread == nil else { return }
        let t = Thread { [self] in loop() }
        t.name = "cohort-restarts"
        thread = t
        t.start()
    }

    /// Starts each queued restart when its backoff has passed; never returns (the process ends with the launch).
    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let next = pending.removeFirst()
            condition.unlock()
            let wait = next.due.timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(min(wait, 3600) * 1e6)) }
            if ended() || launcher.isStopping {
                note("worker rank \(next.planned.rank) on \(next.planned.address) not restarted: the job is ending")
                continue
            }
            do {
                try launcher.spawn(next.planned) { p, pid, status in
                    self.onExit?(p, pid, status)
                    if status != 0 { self.restart(p) }
                }
            } catch {
                note("\(error)")
            }
        }
    }
}
