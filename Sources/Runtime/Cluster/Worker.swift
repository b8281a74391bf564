import Collectives
import Foundation
import Transport

/// How a worker process joins a cluster.
public struct WorkerOptions: Sendable {
    public var coordinator: String
    /// The address peers reach this worker at (advertised in the peer table).
    public var host: String
    /// What the data-plane socket binds to: an address or interface name; defaults to `host`.
    public var interface: String?
    /// Data-plane port; 0 lets the OS choose.
    public var dataPort: Int = 0
    /// This worker's index among its host's workers (from the launcher), to fix rank order.
    public var localIndex: Int?
    public var curve: CurveSecurity?
    /// How long to wait for the assignment.
    public var rendezvousTimeout: Double = 120

    public init(coordinator: String, host: String) {
        self.coordinator = coordinator
        self.host = host
    }
}

/// A worker process's life: bind the data plane, register, take rank/peers/job, load data, train, report.
/// Any failure is reported to the coordinator (which stops the others) before it is rethrown.
public func runWorker(_ options: WorkerOptions, log: @escaping @Sendable (String) -> Void) throws -> FinalReport {
    var commOptions = CommunicatorOptions()
    commOptions.curve = options.curve
    let interface = options.interface ?? options.host
    let plane = try DataPlane(bind: "tcp://\(interface):\(options.dataPort)", options: commOptions)
    let advertised = advertisedEndpoint(bound: plane.endpoint, host: options.host)

    let control = try WorkerControl(coordinator: options.coordinator, curve: options.curve)
    let registration = Registration(host: options.host, pid: getpid(), cores: ProcessInfo.processInfo.activeProcessorCount,
                                    protocolVersion: ControlMessage.protocolVersion, dataEndpoint: advertised,
                                    localIndex: options.localIndex)
    let assignment = try control.register(registration, timeout: options.rendezvousTimeout)
    let rank = assignment.rank
    control.start(rank: rank, heartbeat: assignment.timeouts.heartbeatInterval, deadline: assignment.timeouts.peerDeadline)
    defer { control.finish() }
    do {
        let data = try assignment.job.loadData()
        if let notice = data.notice, rank == 0 { log(notice) }
        var communicator: Communicator? = nil
        if assignment.worldSize > 1 {
            let c = try Communicator(plane: plane, rank: rank, peers: assignment.peers)
            c.options.adaptSpin(ranksOnHost: assignment.hosts.filter { $0 == assignment.hosts[rank] }.count)
            // Start-up (loading data) may skew ranks by seconds: meet once with the rendezvous deadline,
            // then every collective runs under the peer deadline.
            c.options.timeout = assignment.timeouts.rendezvousTimeout
            try c.barrier()
            c.options.timeout = assignment.timeouts.peerDeadline
            communicator = c
        }
        let report: FinalReport
        if assignment.layout.pipelineStages > 1 {
            let worker = try PipelineStageWorker(assignment: assignment, data: data, communicator: communicator, control: control)
            report = try worker.run()
        } else {
            let worker = try DataParallelWorker(assignment: assignment, data: data, communicator: communicator, control: control)
            report = try worker.run()
        }
        control.post(.done(report))
        return report
    } catch {
        control.post(.failed(rank: rank, message: "\(error)"))
        throw error
    }
}

/// The endpoint peers should dial: the bound port on the advertised host (a wildcard bind reports 0.0.0.0).
public func advertisedEndpoint(bound: String, host: String) -> String {
    guard let colon = bound.lastIndex(of: ":") else { return bound }
    let port = bound[bound.index(after: colon)...]
    let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    return "tcp://\(h):\(port)"
}
