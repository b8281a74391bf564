import CoreMetrics
import Foundation
import Prometheus
import Runtime
import Training

/// The run's Prometheus metrics. Recorded through swift-metrics (`Meter` for gauges, `FloatingPointCounter` for
/// counters) over swift-prometheus handlers registered with help text (promtool asks for it), and rendered from
/// the registry on each scrape. Per-rank series carry a `rank` label, links `rank`, `peer` and `transport`.
/// Callers serialize updates (`RunState` holds its lock); the handlers themselves are thread-safe.
public final class RunMetrics: @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    private let samplesPerSecond: Meter
    private let step: Meter
    private let totalSteps: Meter
    private let epoch: Meter
    private let loss: Meter
    private let accuracy: Meter
    private let testAccuracy: Meter
    private let testLoss: Meter
    private let communicationShare: Meter
    private let membershipSize: Meter
    private let membershipChanges: FloatingPointCounter
    private var membershipChangesSeen = 0
    private let checkpoints: FloatingPointCounter
    private var perRank: [Int: RankSeries] = [:]
    private var droppedSeen: [DropReason: Int] = [:]
    /// Bytes already counted per link (rank, peer, transport): reports carry totals, counters take increments.
    private var linkBytesSeen: [String: UInt64] = [:]

    /// One rank's series.
    struct RankSeries {
        var compute, allReduce, wait: FloatingPointCounter
        var step, samplesPerSecond: Meter
    }

    public init() {
        registry = PrometheusCollectorRegistry()
        let (registry, factory) = (registry, PrometheusMetricsFactory(registry: registry))
        self.factory = factory
        func gauge(_ name: String, _ help: String) -> Meter {
            Meter(
                label: name, dimensions: [], handler: registry.makeGauge(descriptor: Self.descriptor(name, help), labels: []),
                factory: factory)
        }
        samplesPerSecond = gauge("cohort_samples_per_second", "Training samples per second, all workers together")
        step = gauge("cohort_step", "Optimizer steps done (the slowest rank's)")
        totalSteps = gauge("cohort_total_steps", "Optimizer steps the job runs in all")
        epoch = gauge("cohort_epoch", "The current epoch, counted from 1")
        loss = gauge("cohort_loss", "Mean training loss over the last progress window")
        accuracy = gauge("cohort_accuracy", "Training accuracy over the last progress window")
        testAccuracy = gauge("cohort_test_accuracy", "Test accuracy at the end of the last epoch")
        testLoss = gauge("cohort_test_loss", "Test loss at the end of the last epoch")
        communicationShare = gauge(
            "cohort_communication_share", "Share of the slowest rank's time spent waiting on the all-reduce")
        membershipSize = gauge("cohort_membership_size", "Workers in the current membership")
        membershipChanges = Self.counter(
            registry, factory, "cohort_membership_changes_total", [], "Memberships formed after the first")
        checkpoints = Self.counter(registry, factory, "cohort_checkpoints_written_total", [], "Checkpoints written")
        for reason in DropReason.allCases { _ = droppedCounter(reason) }
    }

    /// The whole name as the metric name: the exposition joins the descriptor's non-empty parts with underscores.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    private static func counter(
        _ registry: PrometheusCollectorRegistry, _ factory: PrometheusMetricsFactory, _ name: String,
        _ labels: [(String, String)], _ help: String
    ) -> FloatingPointCounter {
        FloatingPointCounter(
            label: name, dimensions: labels, handler: registry.makeCounter(descriptor: descriptor(name, help), labels: labels))
    }

    private func droppedCounter(_ reason: DropReason) -> FloatingPointCounter {
        Self.counter(
            registry, factory, "cohort_dropped_messages_total", [("reason", reason.rawValue)],
            "Control messages the coordinator dropped (malformed, not a member, refused handshakes), by reason")
    }

    private func series(_ rank: Int) -> RankSeries {
        if let s = perRank[rank] { return s }
        let labels = [("rank", String(rank))]
        func counter(_ name: String, _ help: String) -> FloatingPointCounter {
            Self.counter(registry, factory, name, labels, help)
        }
        func gauge(_ name: String, _ help: String) -> Meter {
            Meter(
                label: name, dimensions: labels,
                handler: registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels),
                factory: factory)
        }
        let s = RankSeries(
            compute: counter("cohort_rank_compute_seconds_total", "Seconds each rank spent computing"),
            allReduce: counter("cohort_rank_allreduce_seconds_total", "Seconds each rank's all-reduce ran"),
            wait: counter(
                "cohort_rank_wait_seconds_total", "Seconds each rank waited on the all-reduce (not hidden by backward)"),
            step: gauge("cohort_rank_step", "Optimizer steps each rank has done"),
            samplesPerSecond: gauge("cohort_rank_samples_per_second", "Samples per second of each rank"))
        perRank[rank] = s
        return s
    }

    func setMembership(size: Int, changes: Int) {
        membershipSize.set(Double(size))
        if changes > membershipChangesSeen {
            membershipChanges.increment(by: Double(changes - membershipChangesSeen))
            membershipChangesSeen = changes
        }
    }

    func recordRank(_ p: ProgressReport, dropped: [DropReason: Int]) {
        let s = series(p.rank)
        s.compute.increment(by: max(p.computeSeconds, 0))
        s.allReduce.increment(by: max(p.allReduceSeconds, 0))
        s.wait.increment(by: max(p.waitSeconds, 0))
        s.step.set(Double(p.step))
        s.samplesPerSecond.set(p.seconds > 0 ? Double(p.samples) / p.seconds : 0)
        recordLinks(rank: p.rank, p.links ?? [])
        for (reason, count) in dropped where count > droppedSeen[reason, default: 0] {
            droppedCounter(reason).increment(by: Double(count - droppedSeen[reason, default: 0]))
            droppedSeen[reason] = count
        }
    }

    func recordCluster(_ p: ClusterProgress) {
        samplesPerSecond.set(p.samplesPerSecond)
        step.set(Double(p.step))
        totalSteps.set(Double(p.totalSteps))
        epoch.set(Double(p.epoch + 1))
        if p.loss.isFinite { loss.set(p.loss) }
        accuracy.set(p.accuracy)
        communicationShare.set(p.communicationShare)
    }

    func recordEpoch(testAccuracy acc: Double, testLoss l: Double) {
        testAccuracy.set(acc)
        if l.isFinite { testLoss.set(l) }
    }

    func recordCheckpoint() { checkpoints.increment(by: 1) }

    /// At the end: the final totals of every link (the last bytes after the last progress report).
    func recordSummary(_ s: JobSummary) {
        for rank in Set(s.links.map(\.rank)) {
            recordLinks(
                rank: rank,
                s.links.filter { $0.rank == rank }.map { ReportedLink(peer: $0.peer, transport: $0.transport, bytes: $0.bytes) })
        }
    }

    /// Raises each link's counter to the rank's reported total (never down: a total lower than seen is ignored).
    private func recordLinks(rank: Int, _ links: [ReportedLink]) {
        for link in links {
            let key = "\(rank) \(link.peer) \(link.transport)"
            let seen = linkBytesSeen[key, default: 0]
            guard link.bytes > seen else { continue }
            Self.counter(
                registry, factory, "cohort_link_bytes_sent_total",
                [("rank", String(rank)), ("peer", String(link.peer)), ("transport", link.transport)],
                "Bytes each rank has sent to each peer, by transport (shm: shared memory, socket: tcp or ipc)"
            ).increment(by: Double(link.bytes - seen))
            linkBytesSeen[key] = link.bytes
        }
    }

    /// The Prometheus text exposition of every series.
    public func render() -> String { registry.emitToString() }
}
