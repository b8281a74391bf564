import Transport

/// The ring link to the right neighbour through a shared-memory ring (both on one host).
///
/// A chunk that finds the ring full waits in `queued`, in order, and goes out while this rank waits for its own
/// next chunk (`progress`) or at the end of the collective (`flush`).
final class SharedMemoryOutboundLink: RingOutboundLink {
    unowned let communicator: Communicator
    let ring: SharedMemoryRing
    private var queued: [QueuedChunk] = []
    private var queueStart = 0

    private struct QueuedChunk {
        let header: WireHeader
        let fill: (UnsafeMutableRawPointer) -> Void
    }

    init(communicator: Communicator, ring: SharedMemoryRing) {
        self.communicator = communicator
        self.ring = ring
    }

    var isSharedMemory: Bool { true }
    var hasQueued: Bool { queueStart < queued.count }

    func send(_ chunk: RingChunk, from source: UnsafePointer<Float>, run: RingRun) throws(CollectiveError) {
        guard chunk.bytes <= ring.slotBytes else {
            throw .invalidArgument(
                "rank \(communicator.rank): \(run.operation): a chunk of \(chunk.bytes) bytes exceeds the \(ring.slotBytes)-byte shared-memory slot (chunk size changed after the first collective)"
            )
        }
        let header = communicator.wireHeader(
            kind: chunk.kind, dtype: chunk.wire.dtype, sequence: run.sequence, chunk: chunk.index, length: chunk.bytes)
        let wire = chunk.wire
        let count = chunk.elements
        queued.append(
            QueuedChunk(header: header) { slot in
                if wire == .float32 {
                    slot.copyMemory(from: source, byteCount: count * 4)
                } else {
                    ReduceKernels.encode(source, count: count, as: wire, into: slot)
                }
            })
        progress()
    }

    /// A chunk bound for a shared-memory ring must be written into it anyway: the caller copies the frame into
    /// place and sends from there.
    func forward(_ frame: Message, as chunk: RingChunk, run: RingRun) throws(CollectiveError) -> Bool { false }

    @discardableResult
    func progress() -> Bool {
        while queueStart < queued.count {
            let q = queued[queueStart]
            let sent = ring.trySend { h, payload in
                q.header.encode(into: h)
                q.fill(payload)
            }
            if !sent { return true }
            countSent(q)
            queueStart += 1
        }
        queued.removeAll(keepingCapacity: true)
        queueStart = 0
        return false
    }

    func flush(run: RingRun) throws(CollectiveError) {
        while progress() {
            let q = queued[queueStart]
            do throws(TransportError) {
                try ring.send(deadline: run.deadline, operation: run.operation) { h, payload in
                    q.header.encode(into: h)
                    q.fill(payload)
                }
            } catch {
                throw communicator.peerError(error, operation: run.operation, peer: communicator.right)
            }
            countSent(q)
            queueStart += 1
        }
    }

    private func countSent(_ q: QueuedChunk) {
        let c = communicator
        c.plane.traffic.add(WireHeader.size + Int(q.header.length), to: c.members[c.right], via: .sharedMemory)
    }

    func abandon() {
        queued.removeAll()
        queueStart = 0
    }
}

/// The ring link from the left neighbour through a shared-memory ring: a chunk is reduced straight out of its
/// slot, and the slot goes back to the left neighbour when the reduction returns.
final class SharedMemoryInboundLink: RingInboundLink {
    unowned let communicator: Communicator
    let ring: SharedMemoryRing

    init(communicator: Communicator, ring: SharedMemoryRing) {
        self.communicator = communicator
        self.ring = ring
    }

    var isSharedMemory: Bool { true }

    func receive(_ chunk: RingChunk, run: RingRun, _ body: (UnsafeRawPointer) -> Void) throws(CollectiveError)
        -> Message?
    {
        let c = communicator
        let expectedSender = UInt32(c.members[c.left])
        let group = c.groupTag
        let slotBytes = ring.slotBytes
        let outbound = run.links.outbound
        let refused: WireError?
        do throws(TransportError) {
            refused = try ring.receive(
                deadline: run.deadline, operation: run.operation,
                progress: outbound.hasQueued ? { outbound.progress() } : nil
            ) { raw, payload -> WireError? in
                do throws(WireError) {
                    let header = try WireHeader.decode(raw, maxLength: slotBytes)
                    try header.expect(
                        kind: chunk.kind, group: group, sender: expectedSender, sequence: run.sequence,
                        chunk: UInt32(truncatingIfNeeded: chunk.index), dtype: chunk.wire.dtype, length: chunk.bytes)
                } catch {
                    return error
                }
                body(payload)
                return nil
            }
        } catch {
            throw c.peerError(error, operation: run.operation, peer: c.left)
        }
        if let refused {
            throw .protocolViolation(
                operation: run.operation, me: c.rank, peer: c.left, endpoint: c.endpoint(of: c.left), error: refused)
        }
        return nil
    }
}
