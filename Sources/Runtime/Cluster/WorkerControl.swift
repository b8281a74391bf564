import Foundation
import Training
import Transport

/// A worker's end of the control plane. One DEALER socket, driven by one dedicated thread (libzmq sockets are not
/// thread-safe): it sends heartbeats and queued reports, and watches for the coordinator's stop and heartbeats.
/// The training thread only posts messages and polls `stopReason`.
public final class WorkerControl: @unchecked Sendable {
    public let coordinator: String
    private let context: Context
    /// The coordinator's socket; after a failover, the standby's (the control thread's alone by then).
    private var dealer: Socket
    /// Its connection events: a coordinator process that ended is found within a few heartbeats, not at the
    /// deadline (nil once the loss is handled, or where libzmq could not monitor).
    private var monitor: SocketMonitor?
    private let security: PeerSecurity?
    /// Where this worker stands (rank and membership) and the standby to report that to when the coordinator goes
    /// silent (`cluster.coordinator.standby`): nil, a silent coordinator ends the worker as before.
    private var registration: Registration?
    private var position: (rank: Int, worldSize: Int, epoch: UInt32)?
    private var standby: String?
    /// The control thread's own: whether it turned to the standby, and which coordinator it talks to.
    private var failedOver = false
    private var talkingTo: String
    private var onFailover: (@Sendable (String) -> Void)?
    private let lock = NSLock()
    private var outbox: [ControlMessage] = []
    private var _stopReason: String?
    private var running = false
    private var finished = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    /// Assignments of later memberships (elastic training), newest last, and who is told when one arrives.
    private var assignments: [Assignment] = []
    private var onAssignment: (@Sendable (Assignment) -> Void)?
    /// The coordinator went silent past the deadline, and who is told at once (the data plane's collectives).
    private var _coordinatorLoss: RuntimeError?
    private var onCoordinatorLoss: (@Sendable (RuntimeError) -> Void)?
    /// The coordinator's stop asked this worker to save its last completed step first (`finalCheckpoint`), and
    /// who is told, on the control thread, when any stop arrives.
    private var _finalCheckpointAsked = false
    private var onStop: (@Sendable (String) -> Void)?
    private let arrived = NSCondition()

    /// `security`: the cluster's CURVE key or the job's token, as the coordinator's socket demands.
    public init(coordinator: String, security: PeerSecurity?) throws {
        self.coordinator = coordinator
        self.security = security
        talkingTo = coordinator
        context = try Context(ioThreads: 1)
        dealer = try Self.dealer(context, to: coordinator, security: security)
        monitor = try? SocketMonitor(watching: dealer)
    }

    private static func dealer(_ context: Context, to endpoint: String, security: PeerSecurity?) throws -> Socket {
        let s = try Socket(context, type: .dealer, linger: .milliseconds(2000))
        if let security { try s.makeClient(security) }
        try s.connect(endpoint)
        return s
    }

    /// This worker's registration and its first assignment: what a `rejoin` tells the standby (later assignments
    /// update the rank and membership). `failover`: told, on the control thread, when the worker turns to the
    /// standby.
    public func follow(
        _ assignment: Assignment, as registration: Registration, failover: (@Sendable (String) -> Void)? = nil
    ) {
        lock.withLock {
            self.registration = registration
            position = (assignment.rank, assignment.worldSize, assignment.membershipEpoch)
            standby = assignment.standby
            onFailover = failover
        }
    }

    /// Registers and waits for the answer (on the calling thread, before the control thread starts): the
    /// assignment, or, joining a running elastic job, `prepare` with the job to load data for before `ready`.
    public func register(_ registration: Registration, timeout: Double) throws -> RegistrationReply {
        try dealer.send(ControlMessage.register(registration).encoded(), deadline: .after(seconds: timeout))
        return try awaitReply(timeout: timeout)
    }

    /// A joiner's `ready` (its data is loaded), then its assignment in the membership the coordinator forms with it.
    public func ready(pid: Int32, timeout: Double) throws -> Assignment {
        try dealer.send(ControlMessage.ready(pid: pid).encoded(), deadline: .after(seconds: timeout))
        switch try awaitReply(timeout: timeout) {
        case .assigned(let a): return a
        case .prepare: throw RuntimeError.protocolViolation("the coordinator \(coordinator) sent prepare twice")
        }
    }

    private func awaitReply(timeout: Double) throws -> RegistrationReply {
        let deadline = Deadline.after(seconds: timeout)
        while true {
            let m: Message
            do {
                m = try dealer.receive(deadline: deadline)
            } catch TransportError.timeout {
                // Nobody answered: don't hold the exit for the socket's linger trying to deliver the registration.
                try? dealer.setLinger(.zero)
                throw RuntimeError.rendezvous("no assignment from the coordinator \(coordinator) within \(timeout) s")
            }
            switch try ControlMessage.decode(m.bytes, from: "the coordinator \(coordinator)") {
            case .assign(let a): return .assigned(a)
            case .prepare(let a): return .prepare(a)
            case .stop(let reason): throw RuntimeError.stopped(reason)
            default: continue
            }
        }
    }

    /// Starts the control thread: heartbeats every `heartbeat` s; the coordinator counts as lost after `deadline` s.
    public func start(rank: Int, heartbeat: Double, deadline: Double) {
        lock.lock()
        running = true
        lock.unlock()
        let t = Thread { [self] in
            loop(rank: rank, heartbeat: heartbeat, deadline: deadline)
            done.signal()
        }
        t.name = "cohort-control"
        t.start()
        thread = t
    }

    public func post(_ message: ControlMessage) {
        lock.lock()
        outbox.append(message)
        lock.unlock()
    }

    /// Set when the coordinator said stop, or went silent past the deadline.
    public var stopReason: String? {
        lock.lock()
        defer { lock.unlock() }
        return _stopReason
    }

    /// Set when the coordinator sent nothing for the peer deadline (a stop it sent is `stopReason` only).
    public var coordinatorLoss: RuntimeError? { lock.withLock { _coordinatorLoss } }

    /// True once the coordinator's stop asked this worker to save its last completed step (elastic training below
    /// `min_workers`: the lowest surviving rank is asked).
    public var finalCheckpointAsked: Bool { lock.withLock { _finalCheckpointAsked } }

    /// Who is told, on the control thread, when the coordinator says stop: an elastic worker aborts the collective
    /// in flight then, so that it stops (and saves) at once instead of at the peer deadline.
    public func setStopHandler(_ handler: @escaping @Sendable (String) -> Void) {
        lock.withLock { onStop = handler }
    }

    /// Who is told, on the control thread, when the coordinator is declared lost: the worker aborts its
    /// collectives then, so that every rank leaves the step in flight at once instead of at the next deadline.
    public func setCoordinatorLossHandler(_ handler: @escaping @Sendable (RuntimeError) -> Void) {
        lock.withLock { onCoordinatorLoss = handler }
    }

    /// Sends what is queued and stops the thread (at most `timeout` s).
    public func finish(timeout: Double = 3) {
        lock.lock()
        let wasRunning = running
        running = false
        lock.unlock()
        guard wasRunning, done.wait(timeout: .now() + timeout) == .success else { return }
        // zmq_send only queues: flush now (close, then terminate the context, bounded by the linger), or the
        // process may exit with its final `.epoch`/`.done` reports still queued and the coordinator would see a
        // silent, "dead" rank at the very end of a successful job.
        monitor?.close()
        dealer.close()
        context.terminate()
    }

    /// The longest this thread waits to hand libzmq one message. A dead coordinator leaves the socket without a
    /// peer, and every send would wait out its deadline; a thread that waited a second per queued report (rank 0
    /// reports most) found the coordinator's silence seconds late, after its pipeline neighbour had saved and
    /// left, so it could not save its own stage.
    static let sendWait = 0.005

    /// Sends `pending` in order; what libzmq does not take now goes back to the front of the outbox for the next
    /// turn, so the loop keeps watching the coordinator's deadline.
    private func sendQueued(_ pending: [ControlMessage]) {
        for (i, m) in pending.enumerated() {
            do {
                try dealer.send(m.encoded(), deadline: .after(seconds: Self.sendWait))
            } catch {
                lock.withLock { outbox.insert(contentsOf: pending[i...], at: 0) }
                return
            }
        }
    }

    private func loop(rank: Int, heartbeat: Double, deadline: Double) {
        var lastSent: UInt64 = 0
        var lastHeard = Deadline.nowNanoseconds()
        let interval = UInt64(heartbeat * 1e9)
        while true {
            lock.lock()
            let pending = outbox
            outbox.removeAll()
            let keepRunning = running
            lock.unlock()
            guard keepRunning else {
                // The end of the run: its last reports (`.done`, `.failed`) may wait up to a second each.
                let rest = lock.withLock { outbox }
                for m in pending + rest { try? dealer.send(m.encoded(), deadline: .after(seconds: 1)) }
                return
            }
            sendQueued(pending)
            let now = Deadline.nowNanoseconds()
            if now - lastSent >= interval {
                try? dealer.send(ControlMessage.heartbeat(rank: rank).encoded(), deadline: .after(seconds: Self.sendWait))
                lastSent = now
            }
            if let m = try? dealer.receive(deadline: .after(seconds: min(heartbeat / 4, 0.02))) {
                lastHeard = Deadline.nowNanoseconds()
                switch try? ControlMessage.decode(m.bytes, from: coordinator) {
                case .stop(let reason)?: stopped(reason, saving: false)
                case .finalCheckpoint(let reason)?: stopped(reason, saving: true)
                case .assign(let a)?: received(a)
                default: break
                }
            } else if let gone = coordinatorGone(lastHeard: lastHeard, heartbeat: heartbeat, deadline: deadline) {
                if !failOver(gone) {
                    lost(RuntimeError.coordinatorLost(endpoint: talkingTo, seconds: gone.seconds, closed: gone.closed))
                    monitor = nil
                }
                lastHeard = Deadline.nowNanoseconds()
            }
        }
    }

    /// Whether the coordinator is gone, and how it was found: its connection closed and no handshake again within
    /// three heartbeats (libzmq retries every 0.1 s, so a live coordinator is back long before), or nothing heard
    /// within the deadline (a lost host closes nothing).
    private func coordinatorGone(lastHeard: UInt64, heartbeat: Double, deadline: Double) -> (seconds: Double, closed: Bool)? {
        let grace = min(3 * heartbeat, deadline)
        if monitor?.gone(after: grace) == true { return (grace, true) }
        return Deadline.nowNanoseconds() - lastHeard > UInt64(deadline * 1e9) ? (deadline, false) : nil
    }

    /// On the control thread: the coordinator went silent; with a standby configured (and not turned to already),
    /// the worker reports to it (`rejoin`) and trains on: nothing stops, and the standby takes over once every
    /// member has done the same. False when there is no standby to turn to.
    private func failOver(_ gone: (seconds: Double, closed: Bool)) -> Bool {
        guard !failedOver else { return false }
        let target: (String, Rejoin, (@Sendable (String) -> Void)?)? = lock.withLock {
            guard let standby, let registration, let position else { return nil }
            let rejoin = Rejoin(
                registration: registration, rank: position.rank, worldSize: position.worldSize,
                membershipEpoch: position.epoch)
            return (standby, rejoin, onFailover)
        }
        guard let (endpoint, rejoin, hook) = target else { return false }
        failedOver = true
        talkingTo = endpoint
        try? dealer.setLinger(.zero)
        monitor?.close()
        dealer.close()
        do {
            dealer = try Self.dealer(context, to: endpoint, security: security)
            monitor = try? SocketMonitor(watching: dealer)
            try dealer.send(ControlMessage.rejoin(rejoin).encoded(), deadline: .after(seconds: 1))
        } catch {
            return false
        }
        hook?(
            "the coordinator \(coordinator) \(RuntimeError.lossText(seconds: gone.seconds, closed: gone.closed)): "
                + "reporting to the standby coordinator \(endpoint) as rank \(rejoin.rank) of membership "
                + "\(rejoin.membershipEpoch); training goes on")
        return true
    }

    /// On the control thread (the only one that touches the socket).
    private func lost(_ loss: RuntimeError) {
        // Nobody will read what is still queued: don't hold the exit for the socket's linger.
        try? dealer.setLinger(.zero)
        let handler: (@Sendable (RuntimeError) -> Void)? = lock.withLock {
            guard _coordinatorLoss == nil else { return nil }
            _coordinatorLoss = loss
            return onCoordinatorLoss
        }
        setStop(loss.description)
        handler?(loss)
    }

    /// The coordinator's stop, on the control thread; `saving`: it asked for a final checkpoint first.
    private func stopped(_ reason: String, saving: Bool) {
        let handler = lock.withLock {
            if saving { _finalCheckpointAsked = true }
            return onStop
        }
        setStop(reason)
        handler?(reason)
    }

    private func setStop(_ reason: String) {
        lock.lock()
        if _stopReason == nil { _stopReason = reason }
        lock.unlock()
        arrived.lock()
        arrived.broadcast()
        arrived.unlock()
    }

    /// A later membership's assignment, from the control thread: kept for `nextAssignment`, and told at once
    /// (so that the training thread's collectives of the old membership are aborted now).
    private func received(_ a: Assignment) {
        lock.withLock { position = (a.rank, a.worldSize, a.membershipEpoch) }
        arrived.lock()
        assignments.append(a)
        let hook = onAssignment
        arrived.broadcast()
        arrived.unlock()
        hook?(a)
    }

    /// Who is told, on the control thread, when a new membership's assignment arrives.
    public func setAssignmentHandler(_ handler: @escaping @Sendable (Assignment) -> Void) {
        arrived.lock()
        onAssignment = handler
        arrived.unlock()
    }

    /// The newest assignment of a membership after `epoch`, waiting up to `timeout` s; nil when none came or the
    /// coordinator said stop.
    public func nextAssignment(after epoch: UInt32, timeout: Double) -> Assignment? {
        let end = Date().addingTimeInterval(timeout)
        arrived.lock()
        defer { arrived.unlock() }
        while true {
            if let newest = assignments.last(where: { $0.membershipEpoch > epoch }) { return newest }
            if stopReason != nil || !arrived.wait(until: end) { return nil }
        }
    }
}

/// The coordinator's answer to a registration.
public enum RegistrationReply: Sendable {
    /// A place in a membership (the job's start, or a join once `ready`).
    case assigned(Assignment)
    /// A running elastic job: load the data for this job, then say `ready`.
    case prepare(Assignment)
}
