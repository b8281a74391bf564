import CZeroMQ

/// One owned zmq message (a frame). Receiving into a `Message` is libzmq's zero-copy receive path: for large
/// frames libzmq reads from the kernel straight into the message's buffer, and the caller reduces or copies from
/// `bytes` without an intermediate copy. Closed when released.
public final class Message: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<zmq_msg_t>

    /// An empty message, to receive into.
    public init() {
        pointer = .allocate(capacity: 1)
        zmq_msg_init(pointer)
    }

    /// A message owning a copy of `bytes`.
    public init(copying bytes: UnsafeRawBufferPointer) throws(TransportError) {
        pointer = .allocate(capacity: 1)
        guard zmq_msg_init_size(pointer, bytes.count) == 0 else {
            pointer.deallocate()
            throw TransportError.last("zmq_msg_init_size(\(bytes.count))", "message")
        }
        if bytes.count > 0 { zmq_msg_data(pointer).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
    }

    /// A message of `size` uninitialised bytes that the caller fills through `mutableBytes` before sending
    /// (used to encode straight into a frame, e.g. fp32 → bf16, without a staging buffer).
    public init(size: Int) throws(TransportError) {
        pointer = .allocate(capacity: 1)
        guard zmq_msg_init_size(pointer, size) == 0 else {
            pointer.deallocate()
            throw TransportError.last("zmq_msg_init_size(\(size))", "message")
        }
    }

    /// A zero-copy message over memory the caller keeps alive and unmodified until `release` is called
    /// (libzmq calls it from its I/O thread once the last reference to the frame is gone).
    public init(noCopy bytes: UnsafeRawBufferPointer, release: ZeroCopyRelease) throws {
        pointer = .allocate(capacity: 1)
        release.retainedOne()
        let hint = Unmanaged.passRetained(release).toOpaque()
        let base = UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!)
        guard
            zmq_msg_init_data(
                pointer, base, bytes.count,
                { _, hint in
                    Unmanaged<ZeroCopyRelease>.fromOpaque(hint!).takeRetainedValue().released()
                }, hint) == 0
        else {
            Unmanaged<ZeroCopyRelease>.fromOpaque(hint).release()
            release.released()
            pointer.deallocate()
            throw TransportError.last("zmq_msg_init_data", "message")
        }
    }

    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }

    public var count: Int { zmq_msg_size(pointer) }

    /// The frame's bytes. Valid only while this message is alive: Swift may release an object right after its
    /// last use, so prefer `withBytes`, which keeps the message alive for the closure's duration.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: zmq_msg_data(pointer), count: zmq_msg_size(pointer))
    }

    public var mutableBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: zmq_msg_data(pointer), count: zmq_msg_size(pointer))
    }

    /// Calls `body` with the frame's bytes, keeping the message alive until it returns.
    @inline(__always)
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(bytes)
    }

    @inline(__always)
    public func withMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(mutableBytes)
    }

    /// A copy of the frame's bytes.
    public var byteArray: [UInt8] { withBytes { Array($0) } }

    /// The frame as UTF-8 text.
    public var text: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    /// Whether another frame of the same multipart message follows.
    public var hasMore: Bool { zmq_msg_more(pointer) != 0 }

    /// The sending peer's address as libzmq saw it ("Peer-Address" metadata: an IP for tcp), or nil where the
    /// transport has none (inproc, ipc). What warnings about a peer's traffic name, since its claims can't be trusted.
    public var peerAddress: String? {
        guard let value = zmq_msg_gets(pointer, "Peer-Address") else { return nil }
        return String(cString: value)
    }

    /// A second reference to the same frame data (libzmq reference counting; no byte copy), e.g. to forward a
    /// received frame to the next ring neighbour while also reading it.
    public func shared() throws(TransportError) -> Message {
        let m = Message()
        guard zmq_msg_copy(m.pointer, pointer) == 0 else { throw TransportError.last("zmq_msg_copy", "message") }
        return m
    }
}
