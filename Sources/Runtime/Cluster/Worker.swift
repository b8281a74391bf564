import Collectives
import Config
import Datasets
import Foundation
import NN
import Parallel
import Training
import Transport

/// Seconds between finding the coordinator lost and aborting the collectives still blocked (see `runWorker`).
let coordinatorLossAbortDelay = 0.25

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
    /// The job's token when curve is off (from `launch`'s environment, `--token-file` or `security.token_file`).
    public var token: JobToken?
    /// What every socket of this worker proves: the cluster key when set, else the token.
    public var security: PeerSecurity? { PeerSecurity(curve: curve, token: token) }
    /// How long to wait for the assignment.
    public var rendezvousTimeout: Double = 120

    public init(coordinator: String, host: String) {
        self.coordinator = coordinator
        self.host = host
    }
}

/// A worker process's life: bind the data plane, register, then for each membership the coordinator forms:
/// take rank/peers/job, form the communicator, load data, train, report. Without `elastic:` a job holds one
/// membership (an elastic data-parallel worker follows later ones in `runElasticDataParallel`), so
/// the loop runs once. Any failure is reported to the coordinator (which stops the others) before it is rethrown.
public func runWorker(_ options: WorkerOptions, log: @escaping @Sendable (String) -> Void) throws -> FinalReport {
    guard let security = options.security else {
        throw RuntimeError.invalid(
            "no job token: set \(JobToken.environmentVariable), pass --token-file FILE (the file the coordinator printed) or use a CURVE --key-file"
        )
    }
    var commOptions = CommunicatorOptions()
    commOptions.curve = options.curve
    commOptions.token = options.curve == nil ? options.token : nil
    let interface = try options.interface ?? bindAddress(forHost: options.host)
    let plane = try DataPlane(bind: "tcp://\(interface):\(options.dataPort)", options: commOptions)
    plane.setWarningHandler { log("worker on \(options.host): \($0)") }
    let advertised = advertisedEndpoint(bound: plane.endpoint, host: options.host)

    let control = try WorkerControl(coordinator: options.coordinator, security: security)
    let registration = Registration(
        host: options.host, pid: getpid(), cores: ProcessInfo.processInfo.activeProcessorCount,
        protocolVersion: ControlMessage.protocolVersion, dataEndpoint: advertised,
        localIndex: options.localIndex)
    // A lost coordinator ends every membership. Each rank stops at its next step boundary (`EpochDriver`), and the
    // checkpointing ranks save the last completed step; a collective still blocked a moment later is aborted.
    // That moment lets a step whose update is under way finish on every stage of a pipeline: aborted at once, one
    // stage could apply a step that its neighbour, interrupted in the same gate, did not, and the two would save
    // steps that no `--resume` can join.
    control.setCoordinatorLossHandler { [plane] loss in
        DispatchQueue.global().asyncAfter(deadline: .now() + coordinatorLossAbortDelay) {
            plane.abortCollectives(before: .max, reason: loss.description)
        }
    }
    var memberships = WorkerMemberships(
        control: control, plane: plane, registration: registration, timeout: options.rendezvousTimeout)
    defer { control.finish() }
    var report: FinalReport?
    while let (assignment, prepared) = try memberships.next() {
        control.follow(assignment, as: registration) { log("worker on \(options.host): \($0)") }
        report = try runMembership(assignment, prepared: prepared, plane: plane, control: control, log: log)
    }
    guard let report else { throw RuntimeError.rendezvous("no assignment from the coordinator \(options.coordinator)") }
    return report
}

/// The memberships a worker takes part in, as the coordinator forms them. The first assignment answers the
/// registration; today there is no second, because a job is one membership: it ends when that one finishes, and
/// the first death ends the job. Elastic training makes `next` wait for the coordinator's next `.assign` (a
/// higher `membershipEpoch`) on the control channel instead.
struct WorkerMemberships {
    let control: WorkerControl
    let plane: DataPlane
    let registration: Registration
    let timeout: Double
    private var joined = false

    init(control: WorkerControl, plane: DataPlane, registration: Registration, timeout: Double) {
        self.control = control
        self.plane = plane
        self.registration = registration
        self.timeout = timeout
    }

    /// The next membership's assignment, or nil when the job is over; with the data already loaded when this
    /// worker joins a running elastic job (`prepare`). The control thread (heartbeats) starts with the first
    /// membership and runs until the worker ends.
    mutating func next() throws -> (Assignment, PreparedJoin?)? {
        guard !joined else { return nil }
        joined = true
        var prepared: PreparedJoin?
        let assignment: Assignment
        switch try control.register(registration, timeout: timeout) {
        case .assigned(let a):
            assignment = a
        case .prepare(let job):
            // The members' inboxes (the prepare's peers): connected while the data loads, not once admitted.
            plane.connectAhead(to: job.peers)
            plane.keepSpareRings(job.layout.pipelineStages > 1 ? PipelineStageWorker.groupsPerStage : 1)
            prepared = try PreparedJoin(job)
            assignment = try control.ready(pid: registration.pid, timeout: timeout)
            // The other joiners of its replica were not in the prepare's table.
            plane.connectAhead(to: assignment.peers)
        }
        control.start(
            rank: assignment.rank, heartbeat: assignment.timeouts.heartbeatInterval,
            deadline: assignment.timeouts.peerDeadline)
        return (assignment, prepared)
    }
}

/// What a joiner of a running elastic job makes ready before it says `ready`: its data and a fresh trainer, so
/// that the members, once they admit it, wait only for the new ring and the state copy.
struct PreparedJoin {
    let data: JobData
    /// A data-parallel joiner's trainer (a grid's stage is built once its rank, and so its stage, is known).
    let trainer: Trainer?
    /// A grid joiner's models, made while the members train: as many as any stage keeps micro-batches in flight,
    /// so that building its stage once admitted (which the members wait for) makes none.
    let stageModels: [Sequential]

    init(_ job: Assignment) throws {
        if let delay = try debugJoinDelay() { usleep(UInt32(delay * 1e6)) }
        data = try job.job.loadData()
        if job.layout.pipelineStages == 1 {
            let trainer = try DataParallelWorker.makeTrainer(job: job.job, data: data)
            Self.warmUp(trainer, data: data.train, rows: job.job.batchSize / max(job.worldSize, 1))
            self.trainer = trainer
            stageModels = []
        } else {
            trainer = nil
            let (stages, m) = (job.layout.pipelineStages, max(job.parallelism.microBatches, 1))
            let slots = PipelineSchedules.maxInFlightOfAnyStage(job.parallelism.schedule, stages: stages, microBatches: m)
            stageModels = try (0..<slots).map { _ in try job.job.makeModel() }
            let replicaRows = (job.job.batchSize + job.layout.dataParallel - 1) / max(job.layout.dataParallel, 1)
            Self.warmUp(stageModels, data: data.train, rows: (replicaRows + m - 1) / m)
        }
        if let step = job.membersStep { Self.preparePermutations(job.job, data: data.train, aroundStep: step) }
    }

    /// The permutations of the epoch the members were in and the next three (their reports trail by up to a
    /// second, a few W1 epochs), so that the first step after admission does not shuffle 60,000 indices first.
    static func preparePermutations(_ job: JobSpec, data: LabeledDataset, aroundStep step: Int) {
        guard data.count > 0, job.batchSize > 0 else { return }
        let plan = job.epochPlan(exampleCount: data.count)
        guard plan.stepsPerEpoch > 0 else { return }
        let epoch = max(step, 0) / plan.stepsPerEpoch
        plan.prepare(epochs: epoch..<(epoch + 4))
    }

    /// A grid joiner's models, each through one forward and backward over a micro-batch's rows, thrown away, as a
    /// trainer's warm-up is: the first step with the joiner, which the whole grid waits for, then finds its layers'
    /// buffers allocated. Only for models whose layers hold no state beyond their weights (no dropout generators,
    /// no BatchNorm statistics): the agreement copies the weights, but not every slot's generators.
    static func warmUp(_ models: [Sequential], data: LabeledDataset, rows: Int) {
        guard data.count > 0, models.allSatisfy({ m in !drawsRandomly(m.layers) && m.buffers.count == 0 }) else { return }
        let batch = data.subset(Array(0..<min(max(rows, 1), data.count)))
        let loss = SoftmaxCrossEntropy()
        for model in models {
            batch.labels.withUnsafeBufferPointer { labels in
                _ = loss.forward(logits: model.forward(batch.features, training: true), labels: labels)
            }
            _ = model.backward(loss.backward())
            model.zeroGradients()
        }
    }

    /// Whether any layer, in a residual block's body too, draws from a generator (dropout).
    private static func drawsRandomly(_ layers: [Layer]) -> Bool {
        layers.contains { ($0 as? Residual).map { drawsRandomly($0.body) } ?? ($0 is Dropout) }
    }

    /// One forward and backward over a share of rows, thrown away, so that the joiner's first real step (which
    /// every member waits for) finds its buffers allocated and its pages mapped: cold, it took about twice a
    /// step. Only where that changes no state the agreement does not overwrite: the weights, slots, BatchNorm
    /// statistics and dropout generators are copied from a member then, but the observers of quantisation-aware
    /// training are not, so a QAT model is not warmed up.
    static func warmUp(_ trainer: Trainer, data: LabeledDataset, rows: Int) {
        let model = trainer.model
        guard trainer.quantizationAwareTraining == nil, data.count > 0 else { return }
        let batch = data.subset(Array(0..<min(max(rows, 1), data.count)))
        batch.labels.withUnsafeBufferPointer { _ = trainer.computeGradients(x: batch.features, labels: $0) }
        model.gradients.buffer.update(repeating: 0)
    }
}

/// One membership: load the data, form the communicator, train, and report the outcome to the coordinator.
private func runMembership(
    _ assignment: Assignment, prepared: PreparedJoin?, plane: DataPlane, control: WorkerControl,
    log: @escaping @Sendable (String) -> Void
) throws -> FinalReport {
    let rank = assignment.rank
    if assignment.elastic != nil && assignment.layout.pipelineStages == 1 {
        return try runElasticDataParallel(assignment, prepared: prepared, plane: plane, control: control, log: log)
    }
    if assignment.elastic != nil && assignment.layout.dataParallel > 1 {
        return try runElasticPipeline(assignment, prepared: prepared, plane: plane, control: control, log: log)
    }
    do {
        let data = try prepared?.data ?? assignment.job.loadData()
        if let notice = data.notice, rank == 0 { log(notice) }
        let communicator = try formCommunicator(assignment, plane: plane)
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

/// The membership's communicator over the process's data plane (nil for a world of one): the peer table and
/// epoch go in with `DataPlane.resetPeers`, then all ranks meet once.
/// `meet`: false leaves out the barrier and the switch to the peer deadline, for a caller whose first collective
/// is its meeting (an elastic membership's state agreement) and who sets `timeouts.peerDeadline` after it.
func formCommunicator(_ assignment: Assignment, plane: DataPlane, meet: Bool = true) throws -> Communicator? {
    guard assignment.worldSize > 1 else { return nil }
    let rank = assignment.rank
    let c = try Communicator(plane: plane, rank: rank, peers: assignment.peers, epoch: assignment.membershipEpoch)
    c.options.adaptSpin(ranksOnHost: assignment.hosts.filter { $0 == assignment.hosts[rank] }.count)
    // Start-up (loading data) may skew ranks by seconds: meet once with the rendezvous deadline,
    // then every collective runs under the peer deadline.
    c.options.timeout = assignment.timeouts.rendezvousTimeout
    guard meet else { return c }
    try c.barrier()
    c.options.timeout = assignment.timeouts.peerDeadline
    return c
}

/// The endpoint peers should dial: the bound port on the advertised host (a wildcard bind reports 0.0.0.0).
public func advertisedEndpoint(bound: String, host: String) -> String {
    guard let colon = bound.lastIndex(of: ":") else { return bound }
    let port = bound[bound.index(after: colon)...]
    let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    return "tcp://\(h):\(port)"
}
