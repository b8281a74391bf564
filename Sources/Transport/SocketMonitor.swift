import CZeroMQ
import Foundation

/// Whether a connecting socket's peer is there, from libzmq's connection events (`zmq_socket_monitor`). A peer
/// process that ends closes its connections at once (its kernel does), long before a silence deadline expires;
/// libzmq then retries the connection, and a peer that answers again completes a handshake. So a connection closed
/// and not handshaken again within a grace is a peer that is gone. A lost host, or a cable pulled, closes nothing:
/// only the silence deadline finds that.
public final class SocketMonitor {
    private let events: Socket
    /// When the connection closed and no handshake has completed since (monotonic nanoseconds), else nil.
    public private(set) var closedSince: UInt64?

    /// Starts watching `socket` (before or after it connects). The socket's own thread must drive both.
    public init(watching socket: Socket) throws {
        let address = "inproc://cohort-monitor-\(UInt64.random(in: 0...UInt64.max))"
        let wanted = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
        guard zmq_socket_monitor(try socket.live(), address, wanted) == 0 else {
            throw TransportError.last("zmq_socket_monitor", socket.endpoint)
        }
        events = try Socket(socket.context, type: .pair, linger: .zero)
        try events.connect(address)
    }

    /// Reads the events that arrived, without waiting; returns `closedSince` after them.
    @discardableResult
    public func poll() -> UInt64? {
        while let frames = try? events.receiveMultipart(deadline: .after(seconds: 0), maxFrames: 2) {
            // The first frame: a 16-bit event number, then a 32-bit value (native byte order).
            guard frames[0].count >= 2 else { continue }
            let event = frames[0].withBytes { $0.loadUnaligned(as: UInt16.self) }
            if Int32(event) == ZMQ_EVENT_DISCONNECTED {
                closedSince = closedSince ?? Deadline.nowNanoseconds()
            } else if Int32(event) == ZMQ_EVENT_HANDSHAKE_SUCCEEDED {
                closedSince = nil
            }
        }
        return closedSince
    }

    /// Whether the peer closed its connection more than `seconds` ago and has not answered since.
    public func gone(after seconds: Double) -> Bool {
        guard let since = poll() else { return false }
        return Deadline.nowNanoseconds() &- since > UInt64(max(seconds, 0) * 1e9)
    }

    public func close() { events.close() }
}
