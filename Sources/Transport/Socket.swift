import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// The socket types Cohort uses: PUSH/PULL for the data plane (each rank binds one PULL inbox and connects a PUSH
/// per peer), ROUTER/DEALER for the control plane (coordinator ⇄ workers), PAIR for simple tests.
public enum SocketType: Sendable {
    case pair, push, pull, router, dealer, req, rep, pub, sub

    var raw: Int32 {
        switch self {
        case .pair: return ZMQ_PAIR
        case .push: return ZMQ_PUSH
        case .pull: return ZMQ_PULL
        case .router: return ZMQ_ROUTER
        case .dealer: return ZMQ_DEALER
        case .req: return ZMQ_REQ
        case .rep: return ZMQ_REP
        case .pub: return ZMQ_PUB
        case .sub: return ZMQ_SUB
        }
    }
}

/// A libzmq socket. Not thread-safe (libzmq sockets aren't): one thread at a time drives it. Blocking calls wait
/// at most until their deadline, polling with zmq_poll; they are meant for dedicated threads, never the Swift
/// concurrency pool. Closed on deinit or `close()`; keeps its `Context` alive until then.
public final class Socket: @unchecked Sendable {
    public let context: Context
    public let type: SocketType
    private var handle: UnsafeMutableRawPointer?
    /// The endpoint this socket last bound or connected to: what errors name.
    public private(set) var endpoint: String = "(unbound)"
    /// How long a receive spins (non-blocking retries) before sleeping in zmq_poll. Waking a sleeping thread costs
    /// tens of µs here; a short spin catches replies that are already on their way.
    public var spinMicroseconds: Int = 0

    /// - Parameter linger: how long close() waits to flush unsent messages; finite so shutdown never hangs on a
    ///   dead peer.
    public init(_ context: Context, type: SocketType, linger: Duration = .milliseconds(1000)) throws {
        self.context = context
        self.type = type
        guard let h = zmq_socket(context.handle, type.raw) else { throw TransportError.last("zmq_socket", "context") }
        handle = h
        try setLinger(linger)
    }

    /// How long close() waits to flush unsent messages; zero drops them (e.g. a registration nobody will read).
    public func setLinger(_ linger: Duration) throws {
        try setOption(ZMQ_LINGER, Int32(linger.components.seconds * 1000 + linger.components.attoseconds / 1_000_000_000_000_000))
    }

    deinit { close() }

    public func close() {
        if let h = handle {
            zmq_close(h)
            handle = nil
        }
    }

    func live() throws -> UnsafeMutableRawPointer {
        guard let h = handle else { throw TransportError.closed(endpoint: endpoint) }
        return h
    }

    // MARK: options

    public func setOption(_ option: Int32, _ value: Int32) throws {
        var v = value
        if zmq_setsockopt(try live(), option, &v, MemoryLayout<Int32>.size) != 0 {
            throw TransportError.last("zmq_setsockopt(\(option), \(value))", endpoint)
        }
    }

    public func setOption(_ option: Int32, int64 value: Int64) throws {
        var v = value
        if zmq_setsockopt(try live(), option, &v, MemoryLayout<Int64>.size) != 0 {
            throw TransportError.last("zmq_setsockopt(\(option), \(value))", endpoint)
        }
    }

    public func setOption(_ option: Int32, bytes: [UInt8]) throws {
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        if rc != 0 { throw TransportError.last("zmq_setsockopt(\(option))", endpoint) }
    }

    public func setOption(_ option: Int32, string: String) throws {
        try setOption(option, bytes: Array(string.utf8))
    }

    public func getStringOption(_ option: Int32) throws -> String {
        var buf = [CChar](repeating: 0, count: 1024)
        var size = buf.count
        if zmq_getsockopt(try live(), option, &buf, &size) != 0 {
            throw TransportError.last("zmq_getsockopt(\(option))", endpoint)
        }
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func getIntOption(_ option: Int32) throws -> Int32 {
        var v: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(try live(), option, &v, &size) != 0 { throw TransportError.last("zmq_getsockopt(\(option))", endpoint) }
        return v
    }

    /// High-water marks in messages; 0 = unlimited. Zero-copy frames cost no extra memory while queued.
    public func setHighWaterMarks(send: Int32, receive: Int32) throws {
        try setOption(ZMQ_SNDHWM, send)
        try setOption(ZMQ_RCVHWM, receive)
    }

    /// Kernel socket buffer sizes in bytes (tcp/ipc); -1 keeps the OS default.
    public func setKernelBuffers(send: Int32, receive: Int32) throws {
        try setOption(ZMQ_SNDBUF, send)
        try setOption(ZMQ_RCVBUF, receive)
    }

    /// Frames larger than this are refused by libzmq before allocation (protects a bound socket from a peer that
    /// announces a huge frame). -1 = no limit.
    public func setMaxMessageSize(_ bytes: Int64) throws { try setOption(ZMQ_MAXMSGSIZE, int64: bytes) }

    /// tcp keep-alive style liveness: libzmq pings every `interval` and drops a connection silent for `timeout`.
    public func setHeartbeat(interval: Duration, timeout: Duration) throws {
        try setOption(
            ZMQ_HEARTBEAT_IVL, Int32(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000)
        )
        try setOption(
            ZMQ_HEARTBEAT_TIMEOUT,
            Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
    }

    /// A stable identity for DEALER/REQ sockets talking to a ROUTER.
    public func setIdentity(_ id: [UInt8]) throws { try setOption(ZMQ_ROUTING_ID, bytes: id) }

    // MARK: bind / connect

    /// Binds and returns the endpoint actually bound (ZMQ_LAST_ENDPOINT): with `tcp://host:0` or `tcp://host:*`
    /// the OS picks a free port, so tests and benchmarks never collide.
    @discardableResult
    public func bind(_ endpoint: String) throws -> String {
        self.endpoint = endpoint
        if zmq_bind(try live(), endpoint) != 0 { throw TransportError.last("bind", endpoint) }
        var bound = try getStringOption(ZMQ_LAST_ENDPOINT)
        if bound.isEmpty { bound = endpoint }
        self.endpoint = bound
        return bound
    }

    public func connect(_ endpoint: String) throws {
        self.endpoint = endpoint
        if zmq_connect(try live(), endpoint) != 0 { throw TransportError.last("connect", endpoint) }
    }

    public func disconnect(_ endpoint: String) throws {
        if zmq_disconnect(try live(), endpoint) != 0 { throw TransportError.last("disconnect", endpoint) }
    }

    // MARK: waiting

    /// Waits until the socket is readable (ZMQ_POLLIN) or writable (ZMQ_POLLOUT), or the deadline passes.
    /// Returns false on timeout.
    func wait(_ events: Int16, deadline: Deadline) throws -> Bool {
        let h = try live()
        var item = zmq_pollitem_t(socket: h, fd: 0, events: events, revents: 0)
        while true {
            let ms = deadline.remainingMilliseconds
            let rc = zmq_poll(&item, 1, Int(ms))
            if rc > 0 { return true }
            if rc < 0 {
                if zmq_errno() == EINTR { continue }
                throw TransportError.last("zmq_poll", endpoint)
            }
            if ms == 0 || deadline.hasPassed { return false }
        }
    }

    // MARK: send

    /// Sends a message (moving its content into libzmq; the message is empty afterwards).
    public func send(_ message: Message, more: Bool = false, deadline: Deadline = .distantFuture) throws {
        let h = try live()
        let flags = (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT
        while zmq_msg_send(message.pointer, h, flags) < 0 {
            let e = zmq_errno()
            if e == EINTR { continue }
            if e != EAGAIN { throw TransportError.last("send", endpoint) }
            if try !wait(Int16(ZMQ_POLLOUT), deadline: deadline) {
                throw TransportError.timeout(operation: "send", endpoint: endpoint, seconds: 0)
            }
        }
    }

    /// Sends a copy of `bytes` (libzmq allocates and copies: cheapest for small frames).
    public func send(bytes: UnsafeRawBufferPointer, more: Bool = false, deadline: Deadline = .distantFuture) throws {
        let h = try live()
        let flags = (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT
        while zmq_send(h, bytes.baseAddress, bytes.count, flags) < 0 {
            let e = zmq_errno()
            if e == EINTR { continue }
            if e != EAGAIN { throw TransportError.last("send", endpoint) }
            if try !wait(Int16(ZMQ_POLLOUT), deadline: deadline) {
                throw TransportError.timeout(operation: "send", endpoint: endpoint, seconds: 0)
            }
        }
    }

    public func send(_ bytes: [UInt8], more: Bool = false, deadline: Deadline = .distantFuture) throws {
        try bytes.withUnsafeBytes { try send(bytes: $0, more: more, deadline: deadline) }
    }

    /// Sends `bytes` without copying: libzmq reads the caller's memory from its I/O thread after this returns.
    /// The caller must keep it alive and unchanged until `release.waitUntilReleased` says libzmq is done.
    public func sendNoCopy(
        _ bytes: UnsafeRawBufferPointer, release: ZeroCopyRelease, more: Bool = false, deadline: Deadline = .distantFuture
    ) throws {
        let m = try Message(noCopy: bytes, release: release)
        try send(m, more: more, deadline: deadline)
    }

    /// Sends all frames as one multipart message (copying each).
    public func sendMultipart(_ frames: [[UInt8]], deadline: Deadline = .distantFuture) throws {
        for (i, f) in frames.enumerated() { try send(f, more: i + 1 < frames.count, deadline: deadline) }
    }

    // MARK: receive

    /// Receives the next frame, waiting at most until `deadline`.
    public func receive(deadline: Deadline) throws -> Message {
        let m = Message()
        try receive(into: m, deadline: deadline)
        return m
    }

    /// Receives the next frame into an existing message (replacing its content).
    public func receive(into m: Message, deadline: Deadline) throws {
        let h = try live()
        var spunUntil: UInt64 = 0
        while zmq_msg_recv(m.pointer, h, ZMQ_DONTWAIT) < 0 {
            let e = zmq_errno()
            if e == EINTR { continue }
            if e != EAGAIN { throw TransportError.last("receive", endpoint) }
            if spinMicroseconds > 0 {
                let now = Deadline.nowNanoseconds()
                if spunUntil == 0 { spunUntil = now + UInt64(spinMicroseconds) * 1000 }
                if now < spunUntil {
                    sched_yield()
                    continue
                }
            }
            if try !wait(Int16(ZMQ_POLLIN), deadline: deadline) {
                throw TransportError.timeout(operation: "receive", endpoint: endpoint, seconds: 0)
            }
        }
    }

    /// Receives the next frame into caller-owned memory; returns its size. A frame larger than `buffer` is an
    /// error (never silently truncated).
    public func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws -> Int {
        let m = try receive(deadline: deadline)
        guard m.count <= buffer.count else {
            throw TransportError.messageTooLarge(endpoint: endpoint, size: m.count, limit: buffer.count)
        }
        if m.count > 0 { m.withBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        return m.count
    }

    /// Receives all frames of one multipart message. A message of more than `maxFrames` frames is read to its
    /// end and discarded before `unexpectedFrames` is thrown, so the socket stays at a message boundary and the
    /// caller can drop it and go on (a peer's oversized message must not desynchronise or stop the reader).
    public func receiveMultipart(deadline: Deadline, maxFrames: Int = 64) throws -> [Message] {
        var frames = [try receive(deadline: deadline)]
        while frames[frames.count - 1].hasMore {
            guard frames.count < maxFrames else {
                let total = frames.count + (try discardRestOfMessage(after: frames[frames.count - 1], deadline: deadline))
                throw TransportError.unexpectedFrames(
                    endpoint: endpoint, detail: "more than \(maxFrames) frames (\(total), discarded)")
            }
            // The rest of a multipart message is already here (libzmq delivers multipart atomically).
            frames.append(try receive(deadline: deadline))
        }
        return frames
    }

    /// Reads and drops the remaining frames of the message `last` belongs to; returns how many.
    private func discardRestOfMessage(after last: Message, deadline: Deadline) throws -> Int {
        var discarded = 0
        let scratch = Message()
        var more = last.hasMore
        while more {
            try receive(into: scratch, deadline: deadline)
            discarded += 1
            more = scratch.hasMore
        }
        return discarded
    }
}
