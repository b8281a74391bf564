import Transport

/// The ring neighbours' shared-memory rings: `inbound` carries the left neighbour's chunks to this rank,
/// `outbound` this rank's chunks to the right neighbour. Either is nil where the neighbour is on another host
/// (or shared memory is off), and that direction stays on the sockets.
///
/// Sends never block the ring algorithms: a chunk that finds the outbound ring full waits in `pending` (in
/// order), and goes out while this rank waits for its own next chunk or at the end of the collective. The ring
/// algorithms first send a whole segment's chunks before receiving any (libzmq queues them without limit); with
/// a bounded ring, blocking there would deadlock every rank on a full ring. The memory a pending chunk reads is
/// left alone by the algorithms until the collective ends, as for a zero-copy libzmq send.
final class RingLinks {
    let inbound: SharedMemoryRing?
    let outbound: SharedMemoryRing?
    /// Every link of the ring is shared memory (all ranks agree on this): then even small all-reduces take the
    /// ring, whose 2(N−1) steps cost well under a microsecond each, instead of recursive doubling's socket frames.
    var everyLinkShared = false
    var pending: [PendingSend] = []
    var pendingStart = 0

    struct PendingSend {
        let header: WireHeader
        let fill: (UnsafeMutableRawPointer) -> Void
    }

    init(inbound: SharedMemoryRing?, outbound: SharedMemoryRing?) {
        self.inbound = inbound
        self.outbound = outbound
    }

    var hasPending: Bool { pendingStart < pending.count }

    /// After a failed collective: the chunks will never be wanted, and their memory goes back to the caller.
    func dropPending() {
        pending.removeAll()
        pendingStart = 0
    }

    /// Moves pending chunks into free slots without waiting; whether some are still pending.
    @discardableResult
    func pushPending() -> Bool {
        guard let ring = outbound else { return false }
        while pendingStart < pending.count {
            let p = pending[pendingStart]
            let sent = ring.trySend { h, payload in
                p.header.encode(into: h)
                p.fill(payload)
            }
            if !sent { return true }
            pendingStart += 1
        }
        pending.removeAll(keepingCapacity: true)
        pendingStart = 0
        return false
    }
}

extension Communicator {
    /// Bytes of an offer: the ring file's path, NUL-padded, then its nonce.
    static let offerPathBytes = 248
    static let offerBytes = offerPathBytes + 8

    /// The links of this communicator, negotiated on its first ring collective. Every rank of a group of two or
    /// more takes part (a rank with shared memory off offers nothing and accepts nothing), so the frames match
    /// whatever each rank's options say:
    ///   1. create the inbound ring and offer it to the left neighbour (path + nonce; empty when there is none);
    ///   2. take the right neighbour's offer: map it if the nonce reads back, and answer yes or no;
    ///   3. read the left neighbour's answer: yes → the ring is in use and its name is unlinked; no → dropped.
    func establishRingLinks(sequence: UInt64, deadline: Deadline, operation: String) throws(CollectiveError) -> RingLinks {
        if let links = ringLinks { return links }
        guard size > 1 else {
            let none = RingLinks(inbound: nil, outbound: nil)
            ringLinks = none
            return none
        }
        let enabled = options.sharedMemory && SharedMemoryRing.isSupported
        let slotBytes = max(64, options.chunkBytes, options.sharedMemoryChunkBytes)
        var inbound =
            enabled ? try? SharedMemoryRing.create(slotCount: max(2, options.sharedMemorySlots), slotBytes: slotBytes) : nil
        var offer = [UInt8](repeating: 0, count: Self.offerBytes)
        if let ring = inbound, ring.path.utf8.count <= Self.offerPathBytes {
            offer.replaceSubrange(0..<ring.path.utf8.count, with: Array(ring.path.utf8))
            withUnsafeBytes(of: ring.nonce.littleEndian) {
                offer.replaceSubrange(Self.offerPathBytes..<Self.offerBytes, with: $0)
            }
        } else {
            inbound = nil
        }
        try sendLinkFrame(offer, to: left, sequence: sequence, chunk: 0, operation: operation, deadline: deadline)
        let theirs = try receiveFrame(
            from: right, kind: .link, dtype: .bytes, sequence: sequence, chunk: 0,
            length: Self.offerBytes, operation: operation + " (link setup)", deadline: deadline)
        var outbound: SharedMemoryRing?
        if enabled {
            let (path, nonce): (String, UInt64) = theirs.withBytes { b in
                let raw = b.prefix(Self.offerPathBytes)
                let end = raw.firstIndex(of: 0) ?? raw.endIndex
                return (
                    String(decoding: raw[..<end], as: UTF8.self),
                    UInt64(littleEndian: b.loadUnaligned(fromByteOffset: Self.offerPathBytes, as: UInt64.self))
                )
            }
            if !path.isEmpty, nonce != 0 { outbound = try? SharedMemoryRing.open(path: path, nonce: nonce) }
        }
        let answer: [UInt8] = [outbound == nil ? 0 : 1]
        try sendLinkFrame(answer, to: right, sequence: sequence, chunk: 1, operation: operation, deadline: deadline)
        let reply = try receiveFrame(
            from: left, kind: .link, dtype: .bytes, sequence: sequence, chunk: 1, length: 1,
            operation: operation + " (link setup)", deadline: deadline)
        if reply.withBytes({ $0[0] }) == 1, let ring = inbound {
            ring.unlinkName()
        } else {
            inbound = nil
        }
        let spin = UInt64(max(0, options.spinMicroseconds)) * 1000
        inbound?.spinNanoseconds = spin
        outbound?.spinNanoseconds = spin
        let links = RingLinks(inbound: inbound, outbound: outbound)
        ringLinks = links
        // Agree on whether the whole ring is shared memory: a sum of "my outbound link is not" over the sockets.
        var notShared: [Float] = [outbound == nil ? 1 : 0]
        let agreed: Result<Void, CollectiveError> = notShared.withUnsafeMutableBufferPointer { b in
            do throws(CollectiveError) {
                try recursiveDoublingAllReduce(b, op: .sum, wire: .float32)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try agreed.get()
        links.everyLinkShared = notShared[0] == 0
        return links
    }

    private func sendLinkFrame(
        _ bytes: [UInt8], to peer: Int, sequence: UInt64, chunk: Int, operation: String,
        deadline: Deadline
    ) throws(CollectiveError) {
        let sent: Result<Void, CollectiveError> = bytes.withUnsafeBytes { b in
            do throws(CollectiveError) {
                try sendFrame(
                    to: peer, kind: .link, dtype: .bytes, sequence: sequence, chunk: chunk, length: b.count,
                    payload: .copy(b), operation: operation + " (link setup)", deadline: deadline)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try sent.get()
    }

    /// The ring partition of `count` elements, after negotiating the links if this is the group's first ring
    /// collective: chunks of `sharedMemoryChunkBytes` when every link is shared memory (all ranks agree on that),
    /// else of `chunkBytes`. Every ring collective starts here, so the ring algorithms can take the links as known.
    func ringPartition(count: Int, sequence: UInt64, deadline: Deadline, operation: String) throws(CollectiveError)
        -> RingPartition
    {
        let links = try establishRingLinks(sequence: sequence, deadline: deadline, operation: operation)
        let bytes = links.everyLinkShared ? options.sharedMemoryChunkBytes : options.chunkBytes
        return RingPartition(count: count, parts: size, chunkElements: max(1, bytes / 4))
    }

    /// Whether ring chunks to the right / from the left neighbour go through shared memory (after negotiation).
    public var sharedMemoryLinks: (inbound: Bool, outbound: Bool) {
        (ringLinks?.inbound != nil, ringLinks?.outbound != nil)
    }

    /// Queues one ring chunk for the outbound ring (`links.outbound`) and moves what fits into free slots:
    /// `fill` writes `length` payload bytes into the slot.
    func sendThroughRing(
        _ links: RingLinks, _ ring: SharedMemoryRing, kind: WireHeader.Kind, dtype: WireHeader.DType,
        sequence: UInt64, chunk: Int, length: Int, operation: String,
        fill: @escaping (UnsafeMutableRawPointer) -> Void
    ) throws(CollectiveError) {
        guard length <= ring.slotBytes else {
            throw .invalidArgument(
                "rank \(rank): \(operation): a chunk of \(length) bytes exceeds the \(ring.slotBytes)-byte shared-memory slot (chunk size changed after the first collective)"
            )
        }
        let header = WireHeader(
            kind: kind, dtype: dtype, group: groupTag, sender: UInt32(globalRank), sequence: sequence,
            chunk: UInt32(truncatingIfNeeded: chunk), length: UInt64(length))
        links.pending.append(.init(header: header, fill: fill))
        links.pushPending()
    }

    /// Waits until every pending chunk is in the outbound ring (the right neighbour is receiving meanwhile).
    func flushRingSends(operation: String, deadline: Deadline) throws(CollectiveError) {
        guard let links = ringLinks, let ring = links.outbound else { return }
        while links.pushPending() {
            let p = links.pending[links.pendingStart]
            do throws(TransportError) {
                try ring.send(deadline: deadline, operation: operation) { h, payload in
                    p.header.encode(into: h)
                    p.fill(payload)
                }
            } catch {
                throw mapRingError(error, operation: operation, peer: right)
            }
            links.pendingStart += 1
        }
    }

    /// Receives the next ring chunk from the left neighbour (through the inbound ring if there is one, else the
    /// sockets), checks it is the one expected, and hands its payload to `body` without copying it out.
    func receiveRingChunk(
        kind: WireHeader.Kind, dtype: WireHeader.DType, sequence: UInt64, chunk: Int, length: Int,
        operation: String, deadline: Deadline, _ body: (UnsafeRawPointer) -> Void
    ) throws(CollectiveError) {
        guard let links = ringLinks, let ring = links.inbound else {
            // From the sockets: nothing here can move our pending shared-memory sends, so they go out first
            // (the right neighbour takes them: it never waits on a send of its own).
            try flushRingSends(operation: operation, deadline: deadline)
            let m = try receiveFrame(
                from: left, kind: kind, dtype: dtype, sequence: sequence, chunk: chunk, length: length,
                operation: operation, deadline: deadline)
            m.withBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!) }
            return
        }
        let expectedSender = UInt32(members[left])
        let group = groupTag
        let refused: WireError?
        do throws(TransportError) {
            refused = try ring.receive(
                deadline: deadline, operation: operation,
                progress: links.hasPending ? { links.pushPending() } : nil
            ) { raw, payload -> WireError? in
                do throws(WireError) {
                    let header = try WireHeader.decode(raw, maxLength: ring.slotBytes)
                    try header.expect(
                        kind: kind, group: group, sender: expectedSender, sequence: sequence,
                        chunk: UInt32(truncatingIfNeeded: chunk), dtype: dtype, length: length)
                } catch {
                    return error
                }
                body(payload)
                return nil
            }
        } catch {
            throw mapRingError(error, operation: operation, peer: left)
        }
        if let refused {
            throw .protocolViolation(operation: operation, me: rank, peer: left, endpoint: endpoint(of: left), error: refused)
        }
    }

    private func mapRingError(_ error: TransportError, operation: String, peer: Int) -> CollectiveError {
        switch error {
        case .timeout:
            return .peerTimeout(
                operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer), seconds: options.timeout)
        case .peerExited(_, let pid):
            return .peerGone(
                operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer),
                detail: "its process (pid \(pid)) exited")
        case .closed:
            return .peerGone(
                operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer),
                detail: "it closed its shared-memory link (it failed or finished first)")
        default: break
        }
        return .transport(operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer), error: error)
    }
}
