import Transport

/// A ring link over the data plane's sockets, one per direction: outbound to the right neighbour, inbound from the
/// left. libzmq queues every frame, so a send never waits here and there is nothing to flush: the zero-copy frames
/// are drained with the run's release.
final class SocketRingLink: RingOutboundLink, RingInboundLink {
    unowned let communicator: Communicator
    let peer: Int

    init(communicator: Communicator, peer: Int) {
        self.communicator = communicator
        self.peer = peer
    }

    var isSharedMemory: Bool { false }
    var hasQueued: Bool { false }

    func send(_ chunk: RingChunk, from source: UnsafePointer<Float>, run: RingRun) throws(CollectiveError) {
        let c = communicator
        if chunk.wire == .float32 {
            try c.sendBytes(
                to: peer, kind: chunk.kind, dtype: .float32, sequence: run.sequence, chunk: chunk.index,
                bytes: UnsafeRawBufferPointer(start: source, count: chunk.bytes), release: run.release,
                operation: run.operation, deadline: run.deadline)
        } else {
            let m = try c.encodedMessage(source, count: chunk.elements, wire: chunk.wire, peer: peer, operation: run.operation)
            try c.sendFrame(
                to: peer, kind: chunk.kind, dtype: chunk.wire.dtype, sequence: run.sequence, chunk: chunk.index,
                length: chunk.bytes, payload: .message(m), operation: run.operation, deadline: run.deadline)
        }
    }

    func forward(_ frame: Message, as chunk: RingChunk, run: RingRun) throws(CollectiveError) -> Bool {
        try communicator.forwardFrame(
            frame, to: peer, kind: chunk.kind, dtype: chunk.wire.dtype, sequence: run.sequence, chunk: chunk.index,
            length: chunk.bytes, operation: run.operation, deadline: run.deadline)
        return true
    }

    func progress() -> Bool { false }
    func flush(run: RingRun) throws(CollectiveError) {}
    func abandon() {}

    func receive(_ chunk: RingChunk, run: RingRun, _ body: (UnsafeRawPointer) -> Void) throws(CollectiveError)
        -> Message?
    {
        // Waiting on a socket moves none of the outbound link's queued chunks, so they go out first (the right
        // neighbour takes them: it never waits on a send of its own).
        try run.links.outbound.flush(run: run)
        let m = try communicator.receiveFrame(
            from: peer, kind: chunk.kind, dtype: chunk.wire.dtype, sequence: run.sequence, chunk: chunk.index,
            length: chunk.bytes, operation: run.operation, deadline: run.deadline)
        m.withBytes { bytes in
            if let base = bytes.baseAddress { body(base) }
        }
        return m
    }
}
