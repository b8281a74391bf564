import Config
import Foundation
import Training
import Transport

/// What the coordinator tells whoever is watching (the launcher's progress display, or a log).
public enum CoordinatorEvent: Sendable {
    case listening(endpoint: String, expecting: Int)
    case registered(rank: Int?, host: String, pid: Int32, count: Int, of: Int)
    case started(workers: Int, peers: [String])
    case progress(ClusterProgress)
    case epoch(epoch: Int, trainLoss: Double, testAccuracy: Double, testLoss: Double)
    case checkpointed(step: Int, path: String)
    case warning(String)
}

/// The cluster's combined progress since the last report.
public struct ClusterProgress: Sendable, Codable {
    public var epoch: Int
    public var step: Int
    public var stepsPerEpoch: Int
    public var totalSteps: Int
    public var loss: Double
    public var accuracy: Double
    public var samplesPerSecond: Double
    /// Share of the slowest rank's wall time spent waiting for the all-reduce (communication backward did not hide).
    public var communicationShare: Double
}

/// The final summary of a run.
public struct JobSummary: Sendable, Codable {
    public var workers: Int
    public var testAccuracy: Double?
    public var samplesPerSecond: Double
    public var steps: Int
    public var seconds: Double
    public var computeSeconds: Double
    public var allReduceSeconds: Double
    public var waitSeconds: Double
    public var weightChecksums: [String]
    public var epochs: [EpochSummary]
    /// The steady-state window (after `RunOptions.warmupSteps`): the slowest rank's seconds and time split,
    /// every rank's samples. nil when no warm-up was asked for.
    public var steady: StepWindow? = nil
    /// Every rank's bytes sent to each peer, by transport (ranks whose worker counted none are left out).
    public var links: [RankLink] = []
    /// Socket bytes all ranks sent during the steady-state window, when every rank counted them.
    public var steadySocketBytes: UInt64? = nil

    /// All bytes the ranks sent through `transport` ("socket" or "shm").
    public func totalBytes(_ transport: String) -> UInt64 {
        links.filter { $0.transport == transport }.reduce(0) { $0 &+ $1.bytes }
    }
}

/// One rank's bytes to one peer through one transport.
public struct RankLink: Sendable, Codable, Equatable {
    public var rank: Int
    public var peer: Int
    public var transport: String
    public var bytes: UInt64
}

public struct EpochSummary: Sendable, Codable {
    public var epoch: Int
    public var trainLoss: Double
    public var testAccuracy: Double
    public var testLoss: Double
}

/// The coordinator: rendezvous (register → ranks → peer table and job), heartbeats both ways, metrics
/// aggregation, test-set evaluation (each rank scores its share), and the final summary. It never relays tensors.
///
/// It runs on the calling thread with one ROUTER socket; every wait has a deadline, so a dead or silent worker is
/// named (rank, host, pid) within `timeouts.peerDeadline` and the job is stopped.
public final class Coordinator {
    public let config: ClusterConfig
    public let workers: Int
    public let run: RunOptions
    public let endpoint: String
    public var onEvent: (CoordinatorEvent) -> Void = { _ in }

    private let context: Context
    private let router: Socket
    /// Admits only the cluster's key on the CURVE socket (without a ZAP handler libzmq admits any client key).
    private let authenticator: CurveAuthenticator?
    private var metrics: MetricsWriter?
    /// What arrived and was not acted on: counted, warned about (rate-limited), never fatal. Read from any thread.
    public var dropped: DroppedMessages { droppedLock.withLock { droppedLog } }
    private var droppedLog = DroppedMessages()
    private let droppedLock = NSLock()

    /// The largest control message a worker sends is its final report (a few KiB); anything near this is not one.
    static let maxInboundMessageBytes: Int64 = 1 << 20
    /// Messages queued per worker connection before libzmq drops more (a flooding peer can't grow memory).
    static let inboundHighWaterMark: Int32 = 10_000

    private struct Member {
        var identity: [UInt8]
        var registration: Registration
        var lastSeen: UInt64
        var final: FinalReport?
        var latest: ProgressReport?
    }
    /// The current membership's workers, in rank order.
    private var members: [Member] = []
    /// Ends a rendezvous still in progress, from any thread (the launcher saw a worker process exit), instead of
    /// waiting out `rendezvous_timeout_s` for a worker that will never register. No effect once training runs,
    /// where heartbeats and the workers' own failure reports name the rank.
    public let rendezvousAbandon = Abandonment()

    /// Binds the control endpoint: `bind` if given, else the cluster's interface and coordinator port.
    public init(config: ClusterConfig, workers: Int? = nil, run: RunOptions = RunOptions(), bind: String? = nil) throws {
        self.config = config
        self.workers = workers ?? config.totalWorkers
        self.run = run
        guard self.workers >= 1 else { throw RuntimeError.invalid("the cluster has no workers (hosts[].workers)") }
        context = try Context(ioThreads: 1)
        router = try Socket(context, type: .router, linger: .milliseconds(500))
        try router.setMaxMessageSize(Self.maxInboundMessageBytes)
        try router.setHighWaterMarks(send: Self.inboundHighWaterMark, receive: Self.inboundHighWaterMark)
        if let curve = try config.curveSecurity() {
            authenticator = try CurveAuthenticator(context: context, allowedKeys: [curve.cluster.publicKey])
            try router.makeCurveServer(curve)
        } else {
            authenticator = nil
        }
        let interface = config.cluster.interface
        let address = bind ?? "tcp://\(interface == "*" ? "*" : interface):\(config.cluster.coordinator.port)"
        endpoint = try router.bind(address)
        if let path = config.output.metricsFile { metrics = try MetricsWriter(path: path, append: run.resume) }
    }

    private var timeouts: TimeoutSpec { config.timeouts }

    /// Runs the whole job, membership by membership; returns its summary or throws the first failure (after
    /// telling every worker to stop). A job holds one membership today (`MembershipEpochs`).
    public func runJob() throws -> JobSummary {
        onEvent(.listening(endpoint: endpoint, expecting: workers))
        var summary: JobSummary?
        for epoch in MembershipEpochs() {
            summary = try runMembership(epoch: epoch)
        }
        guard let summary else { throw RuntimeError.invalid("the job formed no membership") }
        return summary
    }

    /// One membership: rendezvous, assignments, then supervision until every member is done. Its first failure
    /// stops every worker and ends the job.
    private func runMembership(epoch: UInt32) throws -> JobSummary {
        try rendezvous(epoch: epoch)
        do {
            return try supervise()
        } catch {
            broadcast(.stop(reason: "\(error)"))
            throw error
        }
    }

    // MARK: rendezvous

    private func rendezvous(epoch: UInt32) throws {
        members = rankOrder(try collectRegistrations())
        assignRanks(epoch: epoch)
    }

    /// Waits for `workers` registrations (refusing other protocol versions), in arrival order.
    private func collectRegistrations() throws -> [Member] {
        let deadline = Deadline.after(seconds: timeouts.rendezvousTimeout)
        var arrivals: [Member] = []
        while arrivals.count < workers {
            let received: [Message]?
            do {
                // In slices, so that a worker the launcher saw exit ends the wait.
                received = try receiveControl(deadline: min(deadline, .after(seconds: 0.2)))
            } catch TransportError.timeout {
                if let reason = rendezvousAbandon.reason {
                    throw RuntimeError.rendezvous("\(arrivals.count) of \(workers) workers registered at \(endpoint): \(reason)")
                }
                if deadline.hasPassed {
                    throw RuntimeError.rendezvous(
                        "\(arrivals.count) of \(workers) workers registered at \(endpoint) within \(timeouts.rendezvousTimeout) s"
                    )
                }
                continue
            }
            guard let frames = received, let member = admit(frames, arrivals: arrivals) else { continue }
            arrivals.append(member)
            onEvent(
                .registered(
                    rank: nil, host: member.registration.host, pid: member.registration.pid,
                    count: arrivals.count, of: workers))
        }
        return arrivals
    }

    /// The member a registration message makes, or nil for anything else (dropped and counted; another version
    /// and a second registration of the same connection or process refused).
    private func admit(_ frames: [Message], arrivals: [Member]) -> Member? {
        guard let message = decodeControl(frames) else { return nil }
        let identity = Array(frames[0].bytes)
        guard case .register(let reg) = message else {
            drop(.unexpected, frames, "a message that is not a registration during rendezvous")
            return nil
        }
        if arrivals.contains(where: {
            $0.identity == identity || ($0.registration.host == reg.host && $0.registration.pid == reg.pid)
        }) {
            send(.stop(reason: "this worker (\(reg.host), pid \(reg.pid)) has already registered"), to: identity)
            drop(.duplicateRegistration, frames, "a second registration from \(reg.host) pid \(reg.pid), refused")
            return nil
        }
        guard reg.protocolVersion == ControlMessage.protocolVersion else {
            send(
                .stop(
                    reason: "protocol version \(reg.protocolVersion) is not the coordinator's \(ControlMessage.protocolVersion)"),
                to: identity)
            onEvent(
                .warning(
                    "refused worker on \(reg.host) (pid \(reg.pid)): protocol version \(reg.protocolVersion), expected \(ControlMessage.protocolVersion)"
                ))
            return nil
        }
        return Member(identity: identity, registration: reg, lastSeen: Deadline.nowNanoseconds())
    }

    /// Ranks go host by host in cluster.yaml's order, then by the launcher's local index, then by arrival.
    private func rankOrder(_ arrivals: [Member]) -> [Member] {
        let hostOrder = Dictionary(config.hosts.enumerated().map { ($1.address, $0) }, uniquingKeysWith: { a, _ in a })
        return arrivals.enumerated().sorted { a, b in
            let ka = (hostOrder[a.element.registration.host] ?? Int.max, a.element.registration.localIndex ?? Int.max, a.offset)
            let kb = (hostOrder[b.element.registration.host] ?? Int.max, b.element.registration.localIndex ?? Int.max, b.offset)
            return ka < kb
        }.map(\.element)
    }

    /// Sends every member its assignment in membership `epoch`: rank, the peer table, and the job.
    private func assignRanks(epoch: UInt32) {
        let peers = members.map(\.registration.dataEndpoint)
        let layout = RankLayout(
            dataParallel: workers / max(config.parallelism.pipelineStages, 1),
            pipelineStages: max(config.parallelism.pipelineStages, 1))
        for (rank, m) in members.enumerated() {
            let a = Assignment(
                rank: rank, worldSize: workers, peers: peers, hosts: members.map(\.registration.host),
                layout: layout, job: config.job, parallelism: config.parallelism,
                timeouts: timeouts, checkpoint: config.checkpoint, run: run, membershipEpoch: epoch)
            send(.assign(a), to: m.identity)
            members[rank].lastSeen = Deadline.nowNanoseconds()
        }
        onEvent(.started(workers: workers, peers: peers))
    }

    // MARK: supervision

    /// What supervising one membership accumulates between messages.
    private struct Supervision {
        var rankOf: [[UInt8]: Int] = [:]
        var epochReports: [Int: [EpochReport]] = [:]
        var epochs: [EpochSummary] = []
        var lastHeartbeat: UInt64 = 0
        var lastProgressEvent: UInt64 = 0
    }

    /// Heartbeats, deadlines and the members' reports until every member is done; the first death or failure
    /// is thrown.
    private func supervise() throws -> JobSummary {
        var state = Supervision()
        for (r, m) in members.enumerated() { state.rankOf[m.identity] = r }
        while members.contains(where: { $0.final == nil }) {
            let now = Deadline.nowNanoseconds()
            if now - state.lastHeartbeat >= UInt64(timeouts.heartbeatInterval * 1e9) {
                for m in members where m.final == nil { send(.heartbeat(rank: -1), to: m.identity) }
                state.lastHeartbeat = now
            }
            try checkDeadlines(now: now)
            let received: [Message]?
            do {
                received = try receiveControl(deadline: .after(seconds: timeouts.heartbeatInterval / 2))
            } catch TransportError.timeout {
                continue
            }
            guard let frames = received, let (rank, message) = memberMessage(frames, &state) else { continue }
            members[rank].lastSeen = Deadline.nowNanoseconds()
            try handle(message, from: rank, &state)
        }
        return summarize(epochs: state.epochs)
    }

    /// A member's message and its rank, or nil when it is not a member's or does not decode (dropped and counted;
    /// a late registration is told that the job is running).
    private func memberMessage(_ frames: [Message], _ state: inout Supervision) -> (Int, ControlMessage)? {
        guard let message = decodeControl(frames) else { return nil }
        guard let rank = state.rankOf[Array(frames[0].bytes)] else {
            if case .register(let reg) = message {
                send(.stop(reason: "the job is already running with \(workers) workers"), to: Array(frames[0].bytes))
                drop(.notAMember, frames, "a registration from \(reg.host) pid \(reg.pid) after rendezvous, refused")
            } else {
                drop(.notAMember, frames, "a message from a connection that is not a member")
            }
            return nil
        }
        return (rank, message)
    }

    /// A member silent past the peer deadline is dead: named, and the job ends.
    private func checkDeadlines(now: UInt64) throws {
        let deadlineNanos = UInt64(timeouts.peerDeadline * 1e9)
        for (r, m) in members.enumerated() where m.final == nil && now > m.lastSeen && now - m.lastSeen > deadlineNanos {
            let silent = Double(now - m.lastSeen) / 1e9
            throw RuntimeError.peerDead(
                rank: r, host: m.registration.host,
                detail:
                    "no heartbeat for \(String(format: "%.1f", silent)) s (pid \(m.registration.pid), deadline \(timeouts.peerDeadline) s)"
            )
        }
    }

    private func handle(_ message: ControlMessage, from rank: Int, _ state: inout Supervision) throws {
        switch message {
        case .heartbeat, .register, .assign, .stop:
            break
        case .progress(let p):
            members[rank].latest = p
            if rank == 0 || Deadline.nowNanoseconds() - state.lastProgressEvent > 250_000_000 {
                state.lastProgressEvent = Deadline.nowNanoseconds()
                let agg = aggregateProgress()
                onEvent(.progress(agg))
                metrics?.write(.progress(agg))
            }
        case .epoch(let e):
            record(e, &state)
        case .checkpointed(_, let step, let path):
            onEvent(.checkpointed(step: step, path: path))
        case .done(let f):
            members[rank].final = f
        case .failed(_, let message):
            throw RuntimeError.workerFailed(rank: rank, host: members[rank].registration.host, message: message)
        }
    }

    /// One rank's end-of-epoch figures; once every rank's are in, the epoch's test-set summary.
    private func record(_ e: EpochReport, _ state: inout Supervision) {
        state.epochReports[e.epoch, default: []].append(e)
        guard let all = state.epochReports[e.epoch], all.count == workers else { return }
        let correct = all.reduce(0) { $0 + $1.testCorrect }
        let count = all.reduce(0) { $0 + $1.testCount }
        let loss = all.reduce(0) { $0 + $1.testLossSum } / Double(max(count, 1))
        let train = all.reduce(0) { $0 + $1.trainLoss } / Double(all.count)
        let summary = EpochSummary(
            epoch: e.epoch, trainLoss: train,
            testAccuracy: Double(correct) / Double(max(count, 1)), testLoss: loss)
        state.epochs.append(summary)
        state.epochReports[e.epoch] = nil
        onEvent(.epoch(epoch: e.epoch, trainLoss: train, testAccuracy: summary.testAccuracy, testLoss: loss))
        metrics?.write(.epoch(summary))
    }

    private func aggregateProgress() -> ClusterProgress {
        let reports = members.compactMap(\.latest)
        // The slowest rank's position: its epoch goes with its step (another rank may be in the next epoch).
        let first = reports.min { $0.step < $1.step }!
        let samples = reports.reduce(0.0) { $0 + Double($1.samples) }
        let seconds = reports.map(\.seconds).max() ?? 0
        let slowest = reports.max { $0.seconds < $1.seconds }!
        let comm = slowest.seconds > 0 ? slowest.waitSeconds / slowest.seconds : 0
        return ClusterProgress(
            epoch: first.epoch, step: first.step, stepsPerEpoch: first.stepsPerEpoch,
            totalSteps: first.totalSteps,
            loss: reports.reduce(0) { $0 + $1.loss } / Double(reports.count),
            accuracy: reports.reduce(0) { $0 + $1.accuracy } / Double(reports.count),
            samplesPerSecond: seconds > 0 ? samples / seconds : 0, communicationShare: comm)
    }

    private func summarize(epochs: [EpochSummary]) -> JobSummary {
        let finals = members.map { $0.final! }
        let seconds = finals.map(\.seconds).max() ?? 0
        let samples = finals.reduce(0) { $0 + $1.samples }
        let slowest = finals.max { $0.seconds < $1.seconds }!
        let correct = finals.reduce(0) { $0 + $1.testCorrect }
        let count = finals.reduce(0) { $0 + $1.testCount }
        let summary = JobSummary(
            workers: workers, testAccuracy: count > 0 ? Double(correct) / Double(count) : nil,
            samplesPerSecond: seconds > 0 ? Double(samples) / seconds : 0, steps: finals.map(\.steps).max() ?? 0,
            seconds: seconds, computeSeconds: slowest.computeSeconds, allReduceSeconds: slowest.allReduceSeconds,
            waitSeconds: slowest.waitSeconds, weightChecksums: finals.map(\.weightChecksum), epochs: epochs,
            steady: steadyWindow(finals),
            links: finals.flatMap { f in
                (f.links ?? []).map { RankLink(rank: f.rank, peer: $0.peer, transport: $0.transport, bytes: $0.bytes) }
            },
            steadySocketBytes: finals.allSatisfy { $0.steadySocketBytes != nil }
                ? finals.reduce(0) { $0 &+ ($1.steadySocketBytes ?? 0) } : nil)
        metrics?.write(.done(summary))
        return summary
    }

    /// The cluster's steady window: the slowest rank's (by its steps' total time: ranks that do not all-reduce
    /// run apart, and a job ends with its slowest); samples add up over ranks.
    private func steadyWindow(_ finals: [FinalReport]) -> StepWindow? {
        let windows = finals.compactMap(\.steady)
        guard windows.count == finals.count, var slowest = windows.max(by: { $0.seconds < $1.seconds }) else { return nil }
        slowest.samples = windows.reduce(0) { $0 + $1.samples }
        return slowest
    }

    // MARK: receiving

    /// The next message's frames, or nil when it was dropped (oversized); throws only timeouts and socket
    /// failures, never because of what a peer sent.
    private func receiveControl(deadline: Deadline) throws -> [Message]? {
        do {
            return try router.receiveMultipart(deadline: deadline, maxFrames: 8)
        } catch TransportError.unexpectedFrames(_, let detail) {
            drop(.oversized, peer: nil, detail)
            return nil
        }
    }

    /// The control message in a ROUTER envelope (identity, body), or nil (dropped and counted).
    private func decodeControl(_ frames: [Message]) -> ControlMessage? {
        guard frames.count == 2 else {
            drop(.malformedEnvelope, frames, "\(frames.count) frames where a control message has 2")
            return nil
        }
        guard let message = try? ControlMessage.decode(frames[1].bytes, from: endpoint) else {
            drop(.undecodable, frames, "\(frames[1].count) bytes that are not a control message")
            return nil
        }
        return message
    }

    private func drop(_ reason: DropReason, _ frames: [Message], _ detail: String) {
        drop(reason, peer: frames.last?.peerAddress, detail)
    }

    private func drop(_ reason: DropReason, peer: String?, _ detail: String) {
        let line = droppedLock.withLock {
            droppedLog.drop(reason, from: peer ?? "an unknown peer", detail: detail, now: Deadline.nowNanoseconds())
        }
        if let line { onEvent(.warning(line)) }
    }

    // MARK: sending

    private func send(_ message: ControlMessage, to identity: [UInt8]) {
        // A worker that vanished makes ROUTER drop the message; the heartbeat deadline reports it.
        try? router.sendMultipart([identity, message.encoded()], deadline: .after(seconds: 1))
    }

    private func broadcast(_ message: ControlMessage) {
        for m in members where m.final == nil { send(message, to: m.identity) }
    }
}

/// The memberships (epochs) a job runs through, in order. Today a job holds exactly one, `WireHeader.firstEpoch`:
/// it ends when that membership finishes, and its first death ends the job. Elastic training changes this rule
/// (a membership that lost a rank is followed by the next epoch with the survivors); the loops over memberships in
/// the coordinator and the worker stay as they are.
public struct MembershipEpochs: Sequence, IteratorProtocol {
    private var upcoming: UInt32? = WireHeader.firstEpoch
    public init() {}
    public mutating func next() -> UInt32? {
        defer { upcoming = nil }
        return upcoming
    }
}

/// A reason to stop, set once from any thread and read by the thread doing the work.
public final class Abandonment: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?
    public init() {}
    public func abandon(_ reason: String) {
        lock.lock()
        defer { lock.unlock() }
        if stored == nil { stored = reason }
    }
    public var reason: String? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}
