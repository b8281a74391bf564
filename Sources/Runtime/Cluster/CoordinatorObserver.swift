import Config
import Foundation
import Training

/// Whoever watches a run from the coordinator's side (the HTTP status endpoint): it is handed the coordinator's
/// aggregated view, on the coordinator's thread, and must return at once (lock, copy, return). It never sees a
/// worker's data plane. `CoordinatorEvent`s reach it through `launchCluster`/`cohort coordinator`, which forward
/// `onEvent`; the calls here carry what the events leave out.
public protocol CoordinatorObserver: AnyObject, Sendable {
    /// A membership formed: its members in rank order.
    func membershipFormed(epoch: UInt32, members: [MemberInfo])
    /// One rank's progress report, as received (four a second per rank), and the dropped-message counts so far.
    func rankReported(_ report: ProgressReport, dropped: [DropReason: Int])
    /// A coordinator event (rendezvous, cluster progress, epochs, checkpoints, warnings).
    func coordinatorEvent(_ event: CoordinatorEvent)
    /// The job ended: its summary, or nil when it failed (`reason`).
    func jobEnded(_ summary: JobSummary?, reason: String?)
}

/// One member of a membership, as the watchers see it.
public struct MemberInfo: Sendable, Codable, Equatable {
    public var rank: Int
    public var host: String
    public var pid: Int32
    public var dataEndpoint: String
    /// Pipeline stage and data-parallel replica of the rank in the DP × PP grid.
    public var stage: Int
    public var replica: Int

    public init(rank: Int, host: String, pid: Int32, dataEndpoint: String, stage: Int, replica: Int) {
        self.rank = rank
        self.host = host
        self.pid = pid
        self.dataEndpoint = dataEndpoint
        self.stage = stage
        self.replica = replica
    }
}

extension ClusterProgress {
    /// For observers' tests and replays (the memberwise initializer is internal): the coordinator builds its own
    /// from the ranks' reports.
    public static func point(
        epoch: Int, step: Int, stepsPerEpoch: Int, totalSteps: Int, loss: Double, accuracy: Double,
        samplesPerSecond: Double, communicationShare: Double
    ) -> ClusterProgress {
        ClusterProgress(
            epoch: epoch, step: step, stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps, loss: loss, accuracy: accuracy,
            samplesPerSecond: samplesPerSecond, communicationShare: communicationShare)
    }
}
