import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// A libzmq context: owns the I/O threads. Sockets hold a strong reference to their context, so the context is
/// terminated only after its last socket is closed (zmq_ctx_term blocks forever while any socket is open).
public final class Context: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// - Parameter ioThreads: libzmq background threads doing the socket I/O. One moves several GB/s; more help
    ///   only when many connections are busy at once.
    public init(ioThreads: Int = 1) throws {
        guard let h = zmq_ctx_new() else { throw TransportError.last("zmq_ctx_new", "context") }
        handle = h
        if zmq_ctx_set(h, ZMQ_IO_THREADS, Int32(ioThreads)) != 0 {
            zmq_ctx_term(h)
            throw TransportError.last("zmq_ctx_set(ZMQ_IO_THREADS)", "context")
        }
        // Big messages: don't cap socket count; keep the default. Raise the max message size cap to unlimited;
        // sockets enforce their own limits (ZMQ_MAXMSGSIZE) where untrusted peers can connect.
    }

    private var terminated = false

    deinit {
        // All sockets are closed (they retain us) and each was given a finite linger, so this returns.
        if !terminated { while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {} }
    }

    /// Terminates now instead of at deinit: blocks until messages still queued on the (already closed) sockets
    /// are sent or their linger runs out. A process that is about to exit calls this so its last messages leave;
    /// exit() alone kills the I/O threads with them still queued. Every socket of this context must be closed.
    public func terminate() {
        guard !terminated else { return }
        terminated = true
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// libzmq's version as "major.minor.patch".
    public static var libraryVersion: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}
