import Synchronization

/// Counts zero-copy frames that libzmq still references. A sender that lent its buffer to libzmq waits on this
/// (`waitUntilReleased`) before it lets its caller touch the buffer again: over tcp libzmq reads the buffer from
/// its I/O thread after `send` returns, over inproc the receiver reads it directly.
public final class ZeroCopyRelease: Sendable {
    private let outstanding = Atomic<Int>(0)

    public init() {}

    func retainedOne() { outstanding.add(1, ordering: .relaxed) }
    func released() { outstanding.subtract(1, ordering: .releasing) }

    /// Frames not yet released by libzmq.
    public var pending: Int { outstanding.load(ordering: .acquiring) }

    /// Waits (spinning briefly, then sleeping in short steps) until libzmq released every frame, or the deadline.
    /// Returns false on timeout.
    public func waitUntilReleased(deadline: Deadline) -> Bool {
        var spins = 0
        while outstanding.load(ordering: .acquiring) > 0 {
            if deadline.hasPassed { return false }
            spins += 1
            if spins > 200 { sleepMicroseconds(spins > 2000 ? 200 : 20) }
        }
        return true
    }
}

#if canImport(Glibc)
    import Glibc
#endif
func sleepMicroseconds(_ us: Int) { usleep(useconds_t(us)) }
