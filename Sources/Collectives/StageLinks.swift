import Foundation
import Transport

/// A pipeline stage's point-to-point links to its neighbour stages, so that a stage worker moves activations and
/// gradients without knowing how the transport lends buffers: a send hands the memory over zero-copy and returns
/// a `StageSend` to wait on before that memory is written again.
public final class StageLinks {
    public let communicator: Communicator
    /// Group ranks of the previous and next stage (nil at the pipeline's ends).
    public let previous: Int?
    public let next: Int?

    public init(communicator: Communicator, previous: Int?, next: Int?) {
        self.communicator = communicator
        self.previous = previous
        self.next = next
    }

    /// Sends `bytes` to `peer` zero-copy and returns at once; `handle` (owned by whoever owns the memory, reused
    /// from step to step so nothing is allocated per send) is what to wait on before touching the memory again.
    @discardableResult
    public func sendAsync(_ bytes: UnsafeRawBufferPointer, to peer: Int, handle: StageSend) throws -> StageSend {
        handle.lent(to: peer, over: communicator)
        try communicator.send(bytes, to: peer, release: handle.release)
        return handle
    }

    /// Sends `bytes` and returns once the transport no longer needs them.
    public func send(_ bytes: UnsafeRawBufferPointer, to peer: Int) throws {
        try communicator.send(bytes, to: peer)
    }

    /// An empty frame: a micro-batch without rows still keeps the neighbours' message order.
    public func sendEmpty(to peer: Int) throws {
        try communicator.send(UnsafeRawBufferPointer(start: nil, count: 0), to: peer)
    }

    /// Receives the next frame from `peer` into `buffer` (exactly its size). Returns when the frame had arrived,
    /// so that the caller can tell waiting for a neighbour apart from copying its bytes in.
    @discardableResult
    public func receive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int) throws -> UInt64 {
        let m = try communicator.receiveMessage(from: peer, expectedBytes: buffer.count)
        let arrived = DispatchTime.now().uptimeNanoseconds
        if buffer.count > 0, let base = buffer.baseAddress {
            m.withBytes { src in
                if let from = src.baseAddress { base.copyMemory(from: from, byteCount: buffer.count) }
            }
        }
        return arrived
    }
}

/// The outstanding zero-copy sends lent from one buffer: `wait` returns once the transport has released them all.
public final class StageSend {
    let release = ZeroCopyRelease()
    private var peer: Int?
    private var communicator: Communicator?

    public init() {}

    func lent(to peer: Int, over communicator: Communicator) {
        self.peer = peer
        self.communicator = communicator
    }

    /// Whether some send from the buffer is still in the transport's hands.
    public var isPending: Bool { release.pending > 0 }

    /// Blocks until the buffer may be written again; a peer that takes longer than the communicator's deadline
    /// fails naming itself.
    public func wait() throws {
        guard let peer, let communicator, release.pending > 0 else { return }
        if !release.waitUntilReleased(deadline: .after(seconds: communicator.options.timeout)) {
            throw communicator.peerTimeout(operation: "pipeline send (flushing)", peer: peer)
        }
    }
}
