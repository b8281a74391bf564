import Foundation
import Runtime
import Training

/// What `/api/status` answers and the live page draws: a copy of the run's state, taken under the state's lock.
/// Field names are snake_case, as in the done line.
public struct StatusDocument: Codable, Sendable {
    /// Increases with every change: the page redraws only when it moved.
    public var version: Int
    public var job: String
    /// `rendezvous`, `training`, `done` or `failed`.
    public var state: String
    public var failure: String?
    public var uptimeSeconds: Double
    public var topology: Topology
    public var membershipEpoch: UInt32?
    public var membershipChanges: Int
    public var progress: ClusterProgress?
    public var workers: [WorkerRow]
    /// Loss, accuracy and samples/s over the run (thinned to a few thousand points).
    public var history: [HistoryPoint]
    public var epochs: [EpochPoint]
    public var events: [EventRecord]
    public var checkpoints: Int
    public var droppedMessages: [String: Int]
    public var stragglers: StragglerReport?
    public var summary: JobSummary?

    enum CodingKeys: String, CodingKey {
        case version, job, state, failure
        case uptimeSeconds = "uptime_s"
        case topology
        case membershipEpoch = "membership_epoch"
        case membershipChanges = "membership_changes"
        case progress, workers, history, epochs, events, checkpoints
        case droppedMessages = "dropped_messages"
        case stragglers, summary
    }
}

/// The cluster's shape: data-parallel replicas × pipeline stages, and how gradients travel.
public struct Topology: Codable, Sendable {
    public var workers: Int
    public var dataParallel: Int
    public var pipelineStages: Int
    /// `ring` (all-reduce among replicas), `pipeline` (activations stage to stage, rings per stage) or `single`.
    public var kind: String

    enum CodingKeys: String, CodingKey {
        case workers
        case dataParallel = "data_parallel"
        case pipelineStages = "pipeline_stages"
        case kind
    }
}

/// One worker's row: who it is and what its last report said.
public struct WorkerRow: Codable, Sendable {
    public var rank: Int
    public var host: String
    public var pid: Int32
    public var stage: Int
    public var replica: Int
    public var epoch: Int?
    public var step: Int?
    public var samplesPerSecond: Double?
    /// Share of its wall time spent waiting on the all-reduce (communication backward did not hide).
    public var communicationShare: Double?
    public var computeSeconds: Double
    public var allReduceSeconds: Double
    public var waitSeconds: Double
    public var medianComputeSeconds: Double?
    /// Its median compute over its group's median (≥ 1.2: a straggler).
    public var computeRatio: Double?
    public var straggler: Bool

    enum CodingKeys: String, CodingKey {
        case rank, host, pid, stage, replica, epoch, step
        case samplesPerSecond = "samples_per_s"
        case communicationShare = "comm_share"
        case computeSeconds = "compute_s"
        case allReduceSeconds = "allreduce_s"
        case waitSeconds = "wait_s"
        case medianComputeSeconds = "median_compute_s"
        case computeRatio = "compute_ratio"
        case straggler
    }
}

/// One point of the curves.
public struct HistoryPoint: Codable, Sendable {
    /// Seconds since the endpoint started.
    public var t: Double
    public var step: Int
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    public var samplesPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case t, step, epoch, loss, accuracy
        case samplesPerSecond = "samples_per_s"
    }
}

/// A join, a membership, a checkpoint, an epoch, a warning, the end.
public struct EventRecord: Codable, Sendable {
    public var t: Double
    public var kind: String
    public var text: String
}

/// One epoch's end: the mean training loss and the test set's accuracy and loss.
public struct EpochPoint: Codable, Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var testAccuracy: Double
    public var testLoss: Double
}
