import Config
import Foundation
import Runtime
import Training

/// The run as the status endpoint knows it, fed by the coordinator's hook (`CoordinatorObserver`) on the
/// coordinator's thread and read by the HTTP server's threads. Every call takes the lock, copies or appends, and
/// returns: the coordinator never waits on a request, and a request never sees half an update. Everything kept
/// is bounded (history thinned, events capped), so a long run can't grow the coordinator's memory.
public final class RunState: CoordinatorObserver, @unchecked Sendable {
    static let historyCapacity = 4096
    static let eventCapacity = 256

    private let lock = NSLock()
    private let started = DispatchTime.now().uptimeNanoseconds
    private let job: String
    private let topology: Topology
    private let metrics: RunMetrics?
    private var version = 0
    private var state = "rendezvous"
    private var failure: String?
    private var membershipEpoch: UInt32?
    private var membershipChanges = 0
    private var members: [MemberInfo] = []
    private var latest: [Int: ProgressReport] = [:]
    private var totals: [Int: (compute: Double, allReduce: Double, wait: Double)] = [:]
    private var statistics = StepStatistics()
    private var progress: ClusterProgress?
    private var history: [HistoryPoint] = []
    private var historyStride = 1
    private var historySkipped = 0
    private var epochs: [EpochPoint] = []
    private var events: [EventRecord] = []
    private var checkpoints = 0
    private var dropped: [DropReason: Int] = [:]
    private var summary: JobSummary?

    public init(config: ClusterConfig, workers: Int, metrics: RunMetrics?) {
        job = config.cluster.name
        let stages = max(config.parallelism.pipelineStages, 1)
        topology = Topology(
            workers: workers, dataParallel: workers / stages, pipelineStages: stages,
            kind: stages > 1 ? "pipeline" : (workers > 1 ? "ring" : "single"))
        self.metrics = metrics
        metrics?.setMembership(size: 0, changes: 0)
    }

    private var now: Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }

    private func changed(_ body: () -> Void) {
        lock.lock()
        defer { lock.unlock() }
        body()
        version += 1
    }

    private func note(_ kind: String, _ text: String) {
        events.append(EventRecord(t: now, kind: kind, text: text))
        if events.count > Self.eventCapacity { events.removeFirst(events.count - Self.eventCapacity) }
    }

    // MARK: CoordinatorObserver

    public func membershipFormed(epoch: UInt32, members: [MemberInfo]) {
        changed {
            if membershipEpoch != nil { membershipChanges += 1 }
            membershipEpoch = epoch
            self.members = members
            state = "training"
            let stageOf = Dictionary(members.map { ($0.rank, $0.stage) }, uniquingKeysWith: { a, _ in a })
            statistics = StepStatistics { stageOf[$0] ?? 0 }
            note("membership", "membership \(epoch): \(members.count) workers (\(Set(members.map(\.host)).count) hosts)")
            metrics?.setMembership(size: members.count, changes: membershipChanges)
        }
    }

    public func rankReported(_ report: ProgressReport, dropped: [DropReason: Int]) {
        changed {
            latest[report.rank] = report
            var t = totals[report.rank] ?? (0, 0, 0)
            t.compute += report.computeSeconds
            t.allReduce += report.allReduceSeconds
            t.wait += report.waitSeconds
            totals[report.rank] = t
            statistics.add(report)
            self.dropped = dropped
            metrics?.recordRank(report, dropped: dropped)
        }
    }

    public func coordinatorEvent(_ event: CoordinatorEvent) {
        changed { apply(event) }
    }

    public func jobEnded(_ summary: JobSummary?, reason: String?) {
        changed {
            self.summary = summary
            state = summary == nil ? "failed" : "done"
            failure = reason
            note(
                state,
                summary.map { String(format: "done: %d steps, %.0f samples/s", $0.steps, $0.samplesPerSecond) }
                    ?? "failed: \(reason ?? "")")
            if let summary { metrics?.recordSummary(summary) }
        }
    }

    /// Under the lock.
    private func apply(_ event: CoordinatorEvent) {
        switch event {
        case .listening(let endpoint, let n): note("listening", "coordinator at \(endpoint), expecting \(n) workers")
        case .registered(_, let host, let pid, let count, let of): note("join", "\(host) pid \(pid) joined (\(count)/\(of))")
        case .started(let n, _): note("started", "all \(n) workers assigned; training")
        case .progress(let p): record(p)
        case .epoch(let e, let train, let acc, let loss):
            epochs.append(EpochPoint(epoch: e, trainLoss: train, testAccuracy: acc, testLoss: loss))
            if epochs.count > Self.historyCapacity { epochs = stride(from: 0, to: epochs.count, by: 2).map { epochs[$0] } }
            note("epoch", String(format: "epoch %d: train loss %.4f, test accuracy %.4f", e + 1, train, acc))
            metrics?.recordEpoch(testAccuracy: acc, testLoss: loss)
        case .checkpointed(let step, let path):
            checkpoints += 1
            note("checkpoint", "checkpoint at step \(step): \(path)")
            metrics?.recordCheckpoint()
        case .warning(let w): note("warning", w)
        case .membershipChanged(let change): note("membership", change.line)
        }
    }

    /// A cluster progress point: kept, thinned by doubling the stride whenever the history is full.
    private func record(_ p: ClusterProgress) {
        progress = p
        metrics?.recordCluster(p)
        historySkipped += 1
        guard historySkipped >= historyStride else { return }
        historySkipped = 0
        history.append(
            HistoryPoint(
                t: now, step: p.step, epoch: p.epoch, loss: p.loss, accuracy: p.accuracy,
                samplesPerSecond: p.samplesPerSecond))
        if history.count > Self.historyCapacity {
            history = stride(from: 0, to: history.count, by: 2).map { history[$0] }
            historyStride *= 2
        }
    }

    // MARK: reading

    /// The current state, copied under the lock.
    public func document() -> StatusDocument {
        lock.lock()
        defer { lock.unlock() }
        let stragglers = statistics.report()
        return StatusDocument(
            version: version, job: job, state: state, failure: failure, uptimeSeconds: now, topology: topology,
            membershipEpoch: membershipEpoch, membershipChanges: membershipChanges, progress: progress,
            workers: members.map { row($0, stragglers) }, history: history, epochs: epochs, events: events,
            checkpoints: checkpoints,
            droppedMessages: Dictionary(uniqueKeysWithValues: dropped.map { ($0.key.rawValue, $0.value) }),
            stragglers: summary?.stragglers ?? stragglers, summary: summary)
    }

    /// The version alone, for a cheap "anything new?" check.
    public var currentVersion: Int { lock.withLock { version } }

    private func row(_ m: MemberInfo, _ stragglers: StragglerReport?) -> WorkerRow {
        let p = latest[m.rank]
        let t = totals[m.rank] ?? (0, 0, 0)
        let timing = stragglers?.ranks.first { $0.rank == m.rank }
        return WorkerRow(
            rank: m.rank, host: m.host, pid: m.pid, stage: m.stage, replica: m.replica, epoch: p?.epoch, step: p?.step,
            samplesPerSecond: p.map { $0.seconds > 0 ? Double($0.samples) / $0.seconds : 0 },
            communicationShare: p.map { $0.seconds > 0 ? $0.waitSeconds / $0.seconds : 0 },
            computeSeconds: t.compute, allReduceSeconds: t.allReduce, waitSeconds: t.wait,
            medianComputeSeconds: timing?.medianComputeSeconds, computeRatio: timing?.computeRatio,
            straggler: timing?.straggler ?? false)
    }
}
