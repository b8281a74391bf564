import Dispatch
import Transport

extension Communicator {
    /// Bytes of an offer: the ring file's path, NUL-padded, then its nonce, then the offering host's identity.
    static let offerPathBytes = 248
    static let offerNonceBytes = 8
    static let offerBytes = offerPathBytes + offerNonceBytes + HostIdentity.bytes

    /// The links of this communicator, negotiated on its first ring collective; the only place that chooses
    /// between a socket and shared memory. Every rank of a group of two or more takes part (a rank with shared
    /// memory off offers nothing and accepts nothing), so the frames match whatever each rank's options say:
    ///   1. create the inbound ring and offer it to the left neighbour (path + nonce; empty when there is none);
    ///   2. take the right neighbour's offer: map it if it comes from this host (boot id and namespaces, see
    ///      `HostIdentity`) and its nonce reads back, and answer yes or no;
    ///   3. read the left neighbour's answer: yes → the ring is in use and its name is unlinked; no → dropped;
    ///   4. agree with every rank on whether the whole ring is shared memory (two ranks know it already).
    func establishRingLinks(sequence: UInt64, deadline: Deadline, operation: String) throws(CollectiveError) -> RingLinks {
        if let links = ringLinks { return links }
        guard size > 1 else {
            let alone = RingLinks(
                outbound: SocketRingLink(communicator: self, peer: rank),
                inbound: SocketRingLink(communicator: self, peer: rank))
            ringLinks = alone
            return alone
        }
        var one = [try RingLinkNegotiation(self, sequence: sequence, deadline: deadline, operation: operation)]
        return try RingLinkNegotiation.complete(&one)[0]
    }

    /// Negotiates the ring links of several groups at once, each step of the negotiation in every group before the
    /// next step in any (a new membership's groups would otherwise each wait out their own round trips, one group
    /// after another, on their first collective). Every member of each group must call this at the same point,
    /// with the groups in the same order; groups whose links exist already, and groups of one, are left alone.
    public static func establishRingLinks(together groups: [Communicator]) throws(CollectiveError) {
        var open: [RingLinkNegotiation] = []
        for c in groups where c.ringLinks == nil && c.size > 1 {
            open.append(
                try RingLinkNegotiation(
                    c, sequence: c.nextSequence(), deadline: c.deadline(), operation: "rings of a new membership"))
        }
        _ = try RingLinkNegotiation.complete(&open)
    }

    /// A new ring for the left neighbour to write into (the plane's spare when it keeps one), when its path fits
    /// an offer.
    fileprivate func offerableInboundRing() -> SharedMemoryRing? {
        guard let ring = plane.inboundRing(DataPlane.inboundRingShape(options)), ring.path.utf8.count <= Self.offerPathBytes
        else { return nil }
        return ring
    }

    fileprivate func offer(of ring: SharedMemoryRing?) -> [UInt8] {
        var offer = [UInt8](repeating: 0, count: Self.offerBytes)
        guard let ring else { return offer }
        offer.replaceSubrange(0..<ring.path.utf8.count, with: Array(ring.path.utf8))
        let nonceEnd = Self.offerPathBytes + Self.offerNonceBytes
        withUnsafeBytes(of: ring.nonce.littleEndian) {
            offer.replaceSubrange(Self.offerPathBytes..<nonceEnd, with: $0)
        }
        offer.replaceSubrange(nonceEnd..<Self.offerBytes, with: HostIdentity.encode(HostIdentity.current))
        return offer
    }

    /// The right neighbour's ring, if its offer comes from this host and names a ring that maps here and whose
    /// nonce reads back. A file of the same name seen from another host or namespace is never opened.
    fileprivate func acceptOffer(_ frame: Message) -> SharedMemoryRing? {
        let (path, nonce, identity): (String, UInt64, String) = frame.withBytes { b in
            let raw = b.prefix(Self.offerPathBytes)
            let end = raw.firstIndex(of: 0) ?? raw.endIndex
            return (
                String(decoding: raw[..<end], as: UTF8.self),
                UInt64(littleEndian: b.loadUnaligned(fromByteOffset: Self.offerPathBytes, as: UInt64.self)),
                HostIdentity.decode(b.dropFirst(Self.offerPathBytes + Self.offerNonceBytes))
            )
        }
        guard !path.isEmpty, nonce != 0, identity == HostIdentity.current,
            let ring = try? SharedMemoryRing.open(path: path, nonce: nonce)
        else { return nil }
        // Its pages are mapped in the background while the negotiation and the first collective go on.
        let bytes = options.sharedMemoryChunkBytes
        DispatchQueue.global(qos: .userInitiated).async { ring.prefault(bytesPerSlot: bytes) }
        return ring
    }

    /// Whether `mine` holds on every rank: a sum over the sockets of the ranks where it does not.
    fileprivate func everyRankAgrees(_ mine: Bool) throws(CollectiveError) -> Bool {
        var not: [Float] = [mine ? 0 : 1]
        let agreed: Result<Void, CollectiveError> = not.withUnsafeMutableBufferPointer { b in
            do throws(CollectiveError) {
                try recursiveDoublingAllReduce(b, op: .sum, wire: .float32)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try agreed.get()
        return not[0] == 0
    }

    fileprivate func sendLinkFrame(
        _ bytes: [UInt8], to peer: Int, sequence: UInt64, chunk: Int, operation: String, deadline: Deadline
    ) throws(CollectiveError) {
        let sent: Result<Void, CollectiveError> = bytes.withUnsafeBytes { b in
            do throws(CollectiveError) {
                try sendFrame(
                    to: peer, kind: .link, dtype: .bytes, sequence: sequence, chunk: chunk, length: b.count,
                    payload: .copy(b), operation: operation, deadline: deadline)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try sent.get()
    }

    /// Whether ring chunks to the right / from the left neighbour go through shared memory (after negotiation).
    public var sharedMemoryLinks: (inbound: Bool, outbound: Bool) {
        (ringLinks?.inbound.isSharedMemory ?? false, ringLinks?.outbound.isSharedMemory ?? false)
    }
}

extension Communicator {
    /// Tells the ring neighbours this rank has left the membership: its shared-memory rings (and those of its
    /// hierarchical sub-groups) are marked closed, so a neighbour still waiting in an all-reduce of this
    /// communicator fails now rather than at its deadline. Socket links carry no such signal.
    public func closeRingLinks() {
        (ringLinks?.outbound as? SharedMemoryOutboundLink)?.ring.markClosed()
        (ringLinks?.inbound as? SharedMemoryInboundLink)?.ring.markClosed()
        hierarchy?.local.closeRingLinks()
        hierarchy?.cross.closeRingLinks()
    }
}

/// One group's ring-link negotiation, in the steps of `Communicator.establishRingLinks`, so that several groups can
/// run each step before the next (`establishRingLinks(together:)`).
private struct RingLinkNegotiation {
    let communicator: Communicator
    let sequence: UInt64
    let deadline: Deadline
    let operation: String
    let enabled: Bool
    var inbound: SharedMemoryRing?
    var outbound: SharedMemoryRing?

    /// Step 1: the inbound ring is made and offered to the left neighbour.
    init(_ c: Communicator, sequence: UInt64, deadline: Deadline, operation: String) throws(CollectiveError) {
        communicator = c
        self.sequence = sequence
        self.deadline = deadline
        self.operation = operation + " (link setup)"
        enabled = c.options.sharedMemory && SharedMemoryRing.isSupported
        healTrace("links-start")
        inbound = enabled ? c.offerableInboundRing() : nil
        healTrace("ring-created")
        try c.sendLinkFrame(
            c.offer(of: inbound), to: c.left, sequence: sequence, chunk: 0, operation: self.operation, deadline: deadline)
    }

    /// Step 2: the right neighbour's offer is taken or refused, and the answer sent back.
    mutating func answer() throws(CollectiveError) {
        let c = communicator
        let theirs = try c.receiveFrame(
            from: c.right, kind: .link, dtype: .bytes, sequence: sequence, chunk: 0,
            length: Communicator.offerBytes, operation: operation, deadline: deadline)
        healTrace("offer-received")
        outbound = enabled ? c.acceptOffer(theirs) : nil
        healTrace("offer-accepted")
        try c.sendLinkFrame(
            [outbound == nil ? 0 : 1], to: c.right, sequence: sequence, chunk: 1, operation: operation, deadline: deadline)
    }

    /// Step 3: the left neighbour's answer decides the inbound ring; the links are installed on the communicator.
    mutating func finish() throws(CollectiveError) -> RingLinks {
        let c = communicator
        let reply = try c.receiveFrame(
            from: c.left, kind: .link, dtype: .bytes, sequence: sequence, chunk: 1, length: 1,
            operation: operation, deadline: deadline)
        if reply.withBytes({ $0.first }) == 1, let ring = inbound {
            ring.unlinkName()
        } else {
            inbound = nil
        }
        let spin = UInt64(max(0, c.options.spinMicroseconds)) * 1000
        inbound?.spinNanoseconds = spin
        outbound?.spinNanoseconds = spin
        // A new membership aborts this one's waits on the rings too (`DataPlane.abortCollectives`).
        let interruption: @Sendable () -> String? = { [plane = c.plane, epoch = c.epoch] in plane.interruption(of: epoch) }
        inbound?.interruption = interruption
        outbound?.interruption = interruption
        for ring in [inbound, outbound].compactMap({ $0 }) { c.plane.wakeOnAbort(ring) }
        let links = RingLinks(
            outbound: outbound.map { SharedMemoryOutboundLink(communicator: c, ring: $0) }
                ?? SocketRingLink(communicator: c, peer: c.right),
            inbound: inbound.map { SharedMemoryInboundLink(communicator: c, ring: $0) }
                ?? SocketRingLink(communicator: c, peer: c.left))
        c.ringLinks = links
        healTrace("replied")
        return links
    }

    /// Steps 2 to 4 of negotiations begun (`init`, step 1), each step in every group before the next in any; the
    /// links, in the negotiations' order.
    static func complete(_ negotiations: inout [RingLinkNegotiation]) throws(CollectiveError) -> [RingLinks] {
        for i in negotiations.indices { try negotiations[i].answer() }
        var links: [RingLinks] = []
        for i in negotiations.indices { links.append(try negotiations[i].finish()) }
        for (negotiation, l) in zip(negotiations, links) { try negotiation.vote(l) }
        return links
    }

    /// Step 4: whether every link of the ring is shared memory. Two ranks have two links, and each rank now knows
    /// both (its offer's answer and its own): no vote.
    func vote(_ links: RingLinks) throws(CollectiveError) {
        let c = communicator
        links.everyLinkShared = c.size == 2 ? outbound != nil && inbound != nil : try c.everyRankAgrees(outbound != nil)
        healTrace("links-agreed")
    }
}
