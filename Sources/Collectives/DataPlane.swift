import Foundation
import Transport

/// One rank's end of the data plane: a PULL inbox bound at this rank's endpoint, one PUSH socket per peer it
/// sends to (connected lazily), and a mailbox that sorts arriving frames by (communicator, sender, channel) so
/// that sub-groups and point-to-point traffic share the sockets without stepping on each other (tag multiplexing).
///
/// Every frame is two zmq frames: a `WireHeader` and the payload. Frames from one sender arrive in the order sent
/// (one PUSH→PULL connection), which is what lets the receiver check sequence and chunk numbers strictly.
///
/// Thread safety: sends and receives take internal locks, so communicators sharing this plane (sub-groups) may
/// be driven from different threads; one communicator must be driven by one thread at a time.
/// See `CommunicatorOptions.tuneAllocator`.
enum AllocatorTuning {
    static let applied: Bool = {
        #if os(Linux)
            // mallopt lives in <malloc.h>, which Swift's Glibc module doesn't export: look it up at run time.
            // A process that tuned malloc through MALLOC_*_ variables keeps its settings.
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
            let mallopt = unsafeBitCast(sym, to: Mallopt.self)
            let M_TRIM_THRESHOLD: Int32 = -1
            let M_MMAP_THRESHOLD: Int32 = -3
            if getenv("MALLOC_MMAP_THRESHOLD_") == nil { _ = mallopt(M_MMAP_THRESHOLD, 32 << 20) }
            if getenv("MALLOC_TRIM_THRESHOLD_") == nil { _ = mallopt(M_TRIM_THRESHOLD, 512 << 20) }
        #endif
        return true
    }()
    static func apply() { _ = applied }
}

public final class DataPlane: @unchecked Sendable {
    public let context: Context
    public let options: CommunicatorOptions
    /// The endpoint the inbox is bound to (with the port the OS chose for `tcp://host:0`): what peers connect to.
    public let endpoint: String
    /// This process's global rank and the peer table (global rank → endpoint), once known.
    public private(set) var globalRank: Int = -1
    public private(set) var peers: [String] = []
    /// The current membership (`WireHeader.firstEpoch` until `resetPeers` says otherwise).
    public var epoch: UInt32 {
        receiveLock.lock()
        defer { receiveLock.unlock() }
        return mailboxEpoch
    }

    /// Ranks as threads of one process: no I/O thread carries the frames, so a receiver may spin on any frame
    /// size without taking the CPU from anyone but itself.
    public let isInproc: Bool
    /// Bytes sent to each peer, by transport, by every communicator over this plane.
    public let traffic = LinkTraffic()

    private let inbox: Socket
    /// One PUSH socket per peer endpoint (not per rank: a rank may be another process in the next membership,
    /// while an endpoint is one bound inbox). Guarded by `sendLock`.
    private var outboxes: [String: Socket] = [:]
    private var mailbox: [MailKey: ArraySlice<Frame>] = [:]
    /// Payload bytes held in `mailbox` (bounded by `maxQueuedBytes`).
    private var queuedBytes = 0
    private var staleDropped = 0
    /// Junk, strangers and overflow: counted and warned about (rate-limited), never fatal. Guarded by `dropLock`.
    private var drops = DroppedFrames()
    private var warn: @Sendable (String) -> Void
    private let dropLock = NSLock()
    /// `epoch`, guarded by `receiveLock` (the receive path compares every frame's epoch with it).
    private var mailboxEpoch: UInt32 = WireHeader.firstEpoch
    private let receiveLock = NSLock()
    private let sendLock = NSLock()
    /// Collectives of memberships before this one give up at their next wait (`abortCollectives`), and why.
    private var abortedBefore: UInt32 = 0
    private var abortReason = ""
    private let abortLock = NSLock()
    let ringWaiters = RingWaiters()
    /// The inbound ring made ahead for the next membership (`keepSpareRing`).
    let spares = SpareRings()
    private let authenticator: CurveAuthenticator?

    /// Frames queued for one (membership, group, sender, channel) that no receive has asked for yet, at most.
    public static let maxQueuedFramesPerKey = 1 << 16
    /// Distinct keys with queued frames, at most (a peer inventing groups can't grow the table without bound).
    public static let maxQueuedKeys = 4096
    /// Messages libzmq queues per connection before the sender waits (the inbox and every outbox).
    public static let highWaterMark: Int32 = 1 << 16
    /// A frame's membership may be at most this far ahead of the plane's (a new membership is one ahead).
    static let maxEpochsAhead: UInt32 = 16
    /// Payload bytes queued for keys nobody has received yet, at most.
    var maxQueuedBytes: Int { max(options.maxFrameBytes, 1) &* 8 }

    struct MailKey: Hashable {
        var epoch: UInt32
        var group: UInt32
        var sender: UInt32
        var channel: UInt8
    }
    struct Frame {
        var header: WireHeader
        var payload: Message
    }

    /// Binds the inbox. `endpoint` may use port 0 / `*` (tcp); read the bound address from `endpoint`.
    public init(bind endpoint: String, options: CommunicatorOptions = .init(), context: Context? = nil) throws {
        self.options = options
        if options.tuneAllocator { AllocatorTuning.apply() }
        let ctx = try context ?? Context(ioThreads: options.ioThreads)
        self.context = ctx
        warn = { line in FileHandle.standardError.write(Data("cohort: \(line)\n".utf8)) }
        let sink = DropSink()
        let security = PeerSecurity(curve: options.curve, token: options.token)
        if let security {
            // Installed before the inbox binds: no connection is ever admitted unchecked.
            authenticator = try CurveAuthenticator(context: ctx, security: security) { address, why in
                sink.dropped(.unauthenticated, from: address, detail: why)
            }
        } else {
            authenticator = nil
        }
        inbox = try Socket(ctx, type: .pull, linger: .zero)
        try inbox.setHighWaterMarks(send: Self.highWaterMark, receive: Self.highWaterMark)
        try inbox.setMaxMessageSize(Int64(options.maxFrameBytes))
        if options.kernelBufferBytes > 0 {
            try inbox.setKernelBuffers(send: options.kernelBufferBytes, receive: options.kernelBufferBytes)
        }
        if let security { try inbox.makeServer(security) }
        inbox.spinMicroseconds = options.spinMicroseconds
        self.endpoint = try inbox.bind(endpoint)
        isInproc = self.endpoint.hasPrefix("inproc://")
        sink.plane = self
    }

    deinit { authenticator?.stop() }

    /// Runs `body` on the abort state under its lock (see `abortCollectives`).
    func abortState<T>(_ body: (inout UInt32, inout String) -> T) -> T {
        abortLock.withLock { body(&abortedBefore, &abortReason) }
    }

    /// What was dropped so far (junk, strangers, overflow), by reason.
    public var droppedFrames: DroppedFrames { dropLock.withLock { drops } }

    /// Where the rate-limited warnings about dropped frames go (default: stderr, `cohort: …`). Called from the
    /// thread that receives, or from the authenticator's thread.
    public func setWarningHandler(_ handler: @escaping @Sendable (String) -> Void) {
        dropLock.withLock { warn = handler }
    }

    fileprivate func dropped(_ reason: FrameDropReason, from peer: String?, detail: String) {
        let (line, handler) = dropLock.withLock {
            (
                drops.drop(
                    reason, from: peer ?? (isInproc ? "an inproc peer" : "an unknown peer"), detail: detail,
                    now: Deadline.nowNanoseconds()), warn
            )
        }
        if let line { handler("data plane \(endpoint): \(line)") }
    }

    /// Installs the peer table of the current membership (the first one, for a plane just bound). Connections are
    /// made on first send.
    public func setPeers(_ peers: [String], globalRank: Int) throws {
        try resetPeers(peers, globalRank: globalRank, epoch: self.epoch)
    }

    /// Replaces the peer table with a new membership's. The outboxes to endpoints still in the table stay
    /// connected (a survivor's inbox is the same inbox; frames of the old membership still on their way are
    /// dropped as stale by the receiver); those to endpoints that left are closed (libzmq still delivers what they
    /// hold, within their linger). Queued frames of earlier epochs can never be received and are dropped (counted
    /// in `staleFramesDropped`). The epoch never goes back.
    /// Call it once the old membership's communicators are done with: their frames are no longer delivered.
    public func resetPeers(_ peers: [String], globalRank: Int, epoch: UInt32) throws {
        guard peers.indices.contains(globalRank) else {
            throw CollectiveError.invalidArgument("rank \(globalRank) is not in a peer table of \(peers.count) ranks")
        }
        let current = self.epoch
        guard epoch >= current else {
            throw CollectiveError.invalidArgument("membership epoch \(epoch) is older than the data plane's current \(current)")
        }
        sendLock.lock()
        let retired = removeOutboxes(notIn: Set(peers))
        self.peers = peers
        self.globalRank = globalRank
        sendLock.unlock()
        for socket in retired { socket.close() }
        dropFrames(before: epoch)
    }

    /// Closes at once, dropping what they still queue, the outboxes to endpoints outside `kept` (the peers of a
    /// membership that lost some): a frame lent to libzmq for a dead peer is then released now, instead of the
    /// aborted collective waiting out its grace for it (half a second over tcp). `resetPeers` would close them too,
    /// but only once the old membership's collectives have returned.
    public func dropOutboxes(notIn kept: [String]) {
        let departed = sendLock.withLock { removeOutboxes(notIn: Set(kept)) }
        for socket in departed {
            try? socket.setLinger(.zero)
            socket.close()
        }
    }

    /// Starts connecting to `endpoints` now (libzmq's handshake, with CURVE or the token, runs in its I/O thread),
    /// so that the first frames of a membership about to form don't wait for it: an elastic worker calls it as
    /// soon as the next membership's peer table arrives. Errors are left for the first send to report.
    public func connectAhead(to endpoints: [String]) {
        sendLock.lock()
        defer { sendLock.unlock() }
        for endpoint in endpoints where endpoint != self.endpoint { _ = try? outbox(endpoint) }
    }

    /// Moves the mailbox to `epoch`: what is queued for earlier ones is dropped, later ones keep waiting.
    private func dropFrames(before epoch: UInt32) {
        receiveLock.lock()
        defer { receiveLock.unlock() }
        mailboxEpoch = epoch
        for (key, queue) in mailbox where key.epoch < epoch {
            staleDropped += queue.count
            for f in queue { queuedBytes -= f.payload.count }
            mailbox[key] = nil
        }
    }

    /// Frames of an earlier membership discarded so far (arrived after `resetPeers`, or queued when it ran).
    public var staleFramesDropped: Int {
        receiveLock.lock()
        defer { receiveLock.unlock() }
        return staleDropped
    }

    func endpoint(of rank: Int) -> String { peers.indices.contains(rank) ? peers[rank] : "unknown endpoint" }

    /// The socket to `peer` (a global rank of the current table); caller holds `sendLock`.
    private func outbox(_ peer: Int) throws -> Socket {
        guard peers.indices.contains(peer) else {
            throw TransportError.invalidArgument("rank \(peer) is not in the peer table of \(peers.count) ranks")
        }
        return try outbox(peers[peer])
    }

    /// Takes the outboxes to endpoints outside `kept` out of the table, for the caller to close; caller holds
    /// `sendLock`.
    private func removeOutboxes(notIn kept: Set<String>) -> [Socket] {
        let leaving = outboxes.filter { !kept.contains($0.key) }
        for endpoint in leaving.keys { outboxes[endpoint] = nil }
        return Array(leaving.values)
    }

    /// The socket to `endpoint`, connected on first use; caller holds `sendLock`.
    private func outbox(_ endpoint: String) throws -> Socket {
        if let s = outboxes[endpoint] { return s }
        let s = try Socket(context, type: .push, linger: .milliseconds(500))
        try s.setHighWaterMarks(send: Self.highWaterMark, receive: Self.highWaterMark)
        if options.kernelBufferBytes > 0 {
            try s.setKernelBuffers(send: options.kernelBufferBytes, receive: options.kernelBufferBytes)
        }
        if let security = PeerSecurity(curve: options.curve, token: options.token) { try s.makeClient(security) }
        try s.connect(endpoint)
        outboxes[endpoint] = s
        return s
    }

    /// What a frame carries.
    enum Payload {
        case empty
        /// Copied into a libzmq message now; the caller may reuse the memory at once.
        case copy(UnsafeRawBufferPointer)
        /// Lent to libzmq; the caller waits on `release` before touching the memory again.
        case noCopy(UnsafeRawBufferPointer, ZeroCopyRelease)
        /// A message libzmq owns (encoded frames, forwarded frames).
        case message(Message)
    }

    func send(to peer: Int, header: WireHeader, payload: Payload, deadline: Deadline) throws(TransportError) {
        sendLock.lock()
        defer { sendLock.unlock() }
        do {
            let s = try outbox(peer)
            var raw = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            try withUnsafeMutableBytes(of: &raw) { buf in
                header.encode(into: buf)
                try s.send(bytes: UnsafeRawBufferPointer(buf), more: true, deadline: deadline)
            }
            switch payload {
            case .empty: try s.send(bytes: UnsafeRawBufferPointer(start: nil, count: 0), deadline: deadline)
            case .copy(let b): try s.send(bytes: b, deadline: deadline)
            case .noCopy(let b, let r): try s.sendNoCopy(b, release: r, deadline: deadline)
            case .message(let m): try s.send(m, deadline: deadline)
            }
        } catch let e as TransportError {
            throw e
        } catch {
            throw TransportError.invalidArgument("\(error)")
        }
    }

    enum ReceiveFailure: Error {
        case timeout
        case transport(TransportError)
        case wire(WireError, sender: Int?)
    }

    /// The next frame for `key`, waiting at most until `deadline`. Frames for other keys that arrive meanwhile
    /// are queued for their receivers. `spin`: busy-poll briefly first (small frames, where waking up dominates);
    /// large transfers don't spin, so the CPU stays with libzmq's I/O thread.
    func receive(_ key: MailKey, deadline: Deadline, spin: Bool = true) throws(ReceiveFailure) -> Frame {
        var first = true
        while true {
            receiveLock.lock()
            if var q = mailbox[key], let f = q.first {
                q.removeFirst()
                mailbox[key] = q.isEmpty ? nil : q
                queuedBytes -= f.payload.count
                receiveLock.unlock()
                return f
            }
            if let reason = interruption(of: key.epoch) {
                receiveLock.unlock()
                throw .transport(.closed(endpoint: "\(endpoint) (membership \(key.epoch) \(reason))"))
            }
            // Wait in short slices so another thread (another sub-group) gets the lock in between, and so that an
            // abort (a new membership) is seen within `abortCheckSeconds`.
            let slice = min(deadline, .after(seconds: first ? Self.abortCheckSeconds : 0.005))
            inbox.spinMicroseconds = first && spin ? options.spinMicroseconds : 0
            first = false
            do throws(ReceiveFailure) {
                while let f = try pullOne(deadline: min(slice, deadline)) {
                    // An earlier membership's frame: no receive will ever want it.
                    if f.header.epoch < mailboxEpoch {
                        staleDropped += 1
                        continue
                    }
                    let k = MailKey(
                        epoch: f.header.epoch, group: f.header.group, sender: f.header.sender,
                        channel: Self.channel(f.header.kind))
                    if k == key {
                        receiveLock.unlock()
                        return f
                    }
                    enqueue(f, key: k)
                }
            } catch {
                receiveLock.unlock()
                throw error
            }
            receiveLock.unlock()
            if deadline.hasPassed { throw .timeout }
        }
    }

    /// Queues a frame nobody is receiving yet, within bounds (caller holds `receiveLock`): frames from a sender
    /// outside the peer table or a membership far ahead are dropped, and so is what passes the queue bounds.
    private func enqueue(_ f: Frame, key k: MailKey) {
        let peer = f.payload.peerAddress
        // A later membership's table is not known here yet (a joiner's frames can come before this rank leaves the old
        // membership): its frames are held within the bounds below and checked by their receiver.
        if !peers.isEmpty, f.header.epoch <= mailboxEpoch, Int(f.header.sender) >= peers.count {
            dropped(
                .unknownSender, from: peer,
                detail: "sender rank \(f.header.sender) is not in the peer table of \(peers.count) ranks")
            return
        }
        if f.header.epoch > mailboxEpoch, f.header.epoch - mailboxEpoch > Self.maxEpochsAhead {
            dropped(
                .unknownSender, from: peer,
                detail: "membership \(f.header.epoch) is more than \(Self.maxEpochsAhead) ahead of \(mailboxEpoch)")
            return
        }
        let queued = mailbox[k]?.count ?? 0
        if queued == 0 && mailbox.count >= Self.maxQueuedKeys {
            dropped(
                .overflow, from: peer,
                detail:
                    "\(mailbox.count) (group, sender) keys already hold frames nobody received (group \(k.group), sender \(k.sender))"
            )
            return
        }
        if queued >= Self.maxQueuedFramesPerKey || queuedBytes + f.payload.count > maxQueuedBytes {
            dropped(
                .overflow, from: peer,
                detail: "group \(k.group), sender \(k.sender) has \(queued) frames (\(queuedBytes) bytes in all) waiting")
            return
        }
        mailbox[k, default: []].append(f)
        queuedBytes += f.payload.count
    }

    static func channel(_ kind: WireHeader.Kind) -> UInt8 { kind == .pointToPoint ? 1 : 0 }

    /// Reads the next well-formed header+payload frame from the inbox; nil if none came before `deadline`.
    /// Malformed frames (a header that does not decode, a missing payload, extra parts, a payload of another size
    /// than announced) are dropped and counted: whatever a peer sends, the plane goes on.
    private func pullOne(deadline: Deadline) throws(ReceiveFailure) -> Frame? {
        while true {
            let head: Message
            do {
                head = try inbox.receive(deadline: deadline)
            } catch let e as TransportError {
                if case .timeout = e { return nil }
                throw .transport(e)
            } catch {
                throw .transport(.invalidArgument("\(error)"))
            }
            let header: WireHeader
            do throws(WireError) {
                let max = options.maxFrameBytes
                header = try head.withBytes { (b) throws(WireError) in try WireHeader.decode(b, maxLength: max) }
            } catch {
                drain(after: head)
                dropped(.malformed, from: head.peerAddress, detail: "\(error)")
                continue
            }
            guard head.hasMore else {
                dropped(.malformed, from: head.peerAddress, detail: "\(WireError.missingPayload) (sender \(header.sender))")
                continue
            }
            let payload: Message
            do {
                // The payload is part of the same multipart message: already here.
                payload = try inbox.receive(deadline: .after(seconds: 1))
            } catch let e as TransportError {
                throw .transport(e)
            } catch {
                throw .transport(.invalidArgument("\(error)"))
            }
            if payload.hasMore {
                drain(after: payload)
                dropped(
                    .malformed, from: head.peerAddress,
                    detail: "more than a header and a payload (sender \(header.sender))")
                continue
            }
            guard payload.count == Int(header.length) else {
                dropped(
                    .malformed, from: head.peerAddress,
                    detail:
                        "\(WireError.payloadSizeMismatch(header: header.length, frame: payload.count)) (sender \(header.sender))"
                )
                continue
            }
            return Frame(header: header, payload: payload)
        }
    }

    private func drain(after m: Message) {
        var last = m
        var parts = 0
        // Bounded: libzmq delivers a multipart message whole, but a flood must not keep this loop going.
        while last.hasMore, parts < 1 << 16, let next = try? inbox.receive(deadline: .after(seconds: 1)) {
            last = next
            parts += 1
        }
    }

    /// Sends raw frames to `peer`'s inbox, as a broken or hostile peer would: for tests of the receiver's checks.
    public func sendRawFrames(_ frames: [[UInt8]], to peer: Int) throws {
        sendLock.lock()
        defer { sendLock.unlock() }
        try outbox(peer).sendMultipart(frames, deadline: .after(seconds: 5))
    }
}

/// Carries the authenticator's refusals to the plane, which exists only once the handler is installed.
private final class DropSink: @unchecked Sendable {
    private let lock = NSLock()
    private weak var _plane: DataPlane?
    var plane: DataPlane? {
        get { lock.withLock { _plane } }
        set { lock.withLock { _plane = newValue } }
    }
    func dropped(_ reason: FrameDropReason, from peer: String, detail: String) {
        plane?.dropped(reason, from: peer, detail: detail)
    }
}
