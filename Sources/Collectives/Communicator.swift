import Foundation
import Transport

/// A group of ranks that run collectives together: rank, size, ring neighbours, point-to-point send/receive with
/// deadlines, and the collectives (one file per algorithm, in extensions). Built from a peer table
/// (global rank → endpoint) that the coordinator hands out, or over inproc:// for ranks as threads.
///
/// All calls block the calling thread (run them on a dedicated thread, never the Swift concurrency pool) and
/// return or throw before `options.timeout` has passed. Every member must call the same collectives in the same
/// order with the same sizes; the sequence number in each frame checks this.
public final class Communicator: @unchecked Sendable {
    /// This rank within the group, 0..<size.
    public let rank: Int
    public let size: Int
    /// Global ranks of the members, in group order (identity for the world communicator).
    public let members: [Int]
    public let plane: DataPlane
    public var options: CommunicatorOptions
    /// The tag that keeps this group's frames apart from other groups' on the shared sockets.
    public let groupTag: UInt32
    /// The membership this communicator was formed in: stamped on every frame it sends, and the only epoch its
    /// receives match. A re-formed membership gets a new communicator (sequence numbers start again).
    public let epoch: UInt32
    /// Collectives this communicator has run; the next one's sequence number.
    public private(set) var sequence: UInt64 = 0
    /// The links to the ring neighbours, once the first ring collective has negotiated them.
    var ringLinks: RingLinks?
    /// The host and cross-host groups of hierarchical all-reduces, formed on the first one.
    var hierarchy: HierarchyGroups?
    /// Which host each rank is on: from the peer table's addresses unless set (tests and benches set it to
    /// pretend hosts). Every member must see the same layout.
    public var hosts: HostLayout {
        get {
            if let hostLayout { return hostLayout }
            let layout = HostLayout(endpoints: members.map { plane.endpoint(of: $0) })
            hostLayout = layout
            return layout
        }
        set {
            hostLayout = newValue
            hierarchy = nil
        }
    }
    private var hostLayout: HostLayout?
    private var p2pSent: [Int: UInt64] = [:]
    private var p2pReceived: [Int: UInt64] = [:]

    public var left: Int { (rank + size - 1) % size }
    public var right: Int { (rank + 1) % size }
    public var globalRank: Int { members[rank] }

    /// The world communicator over a bound data plane and the full peer table. `epoch`: the membership it forms
    /// (`Assignment.membershipEpoch`), installed with `DataPlane.resetPeers`; nil keeps the plane's current one.
    public init(plane: DataPlane, rank: Int, peers: [String], epoch: UInt32? = nil) throws {
        guard peers.indices.contains(rank) else {
            throw CollectiveError.invalidArgument("rank \(rank) is outside the peer table of \(peers.count) ranks")
        }
        if let epoch {
            try plane.resetPeers(peers, globalRank: rank, epoch: epoch)
        } else {
            try plane.setPeers(peers, globalRank: rank)
        }
        self.plane = plane
        self.rank = rank
        self.size = peers.count
        self.members = Array(peers.indices)
        self.options = plane.options
        self.groupTag = 0
        self.epoch = epoch ?? plane.epoch
    }

    private init(parent: Communicator, members: [Int], rank: Int, tag: UInt32) {
        plane = parent.plane
        options = parent.options
        self.members = members
        self.rank = rank
        size = members.count
        groupTag = tag
        epoch = parent.epoch
    }

    /// Binds `bind` (default: this rank's own entry of the table) and joins the group. For tcp with port 0, bind
    /// a `DataPlane` first, publish its `endpoint`, and use `init(plane:rank:peers:)` once the table is known.
    public convenience init(
        rank: Int, peers: [String], bind: String? = nil, options: CommunicatorOptions = .init(), context: Context? = nil
    ) throws {
        guard peers.indices.contains(rank) else {
            throw CollectiveError.invalidArgument("rank \(rank) is outside the peer table of \(peers.count) ranks")
        }
        let plane = try DataPlane(bind: bind ?? peers[rank], options: options, context: context)
        try self.init(plane: plane, rank: rank, peers: peers)
    }

    /// `size` communicators over inproc:// in one process (ranks as threads), sharing one context.
    public static func local(size: Int, options: CommunicatorOptions = .init()) throws -> [Communicator] {
        guard size >= 1 else { throw CollectiveError.invalidArgument("a group needs at least one rank, got \(size)") }
        let context = try Context(ioThreads: options.ioThreads)
        let prefix = "inproc://cohort-\(UInt64.random(in: 0...UInt64.max))"
        let planes = try (0..<size).map { try DataPlane(bind: "\(prefix)-rank-\($0)", options: options, context: context) }
        let table = planes.map(\.endpoint)
        return try planes.enumerated().map { try Communicator(plane: $1, rank: $0, peers: table) }
    }

    /// A communicator over a subset of this group (`ranks` are ranks of this group, in the new group's order),
    /// e.g. the data-parallel replicas of one pipeline stage. Every member must create it with the same `ranks`
    /// (and `tag`, to tell apart two groups with the same members); non-members get nil. It shares this rank's
    /// sockets: its frames carry their own group tag and sequence numbers.
    public func subgroup(ranks: [Int], tag: UInt32 = 0) throws -> Communicator? {
        guard !ranks.isEmpty, Set(ranks).count == ranks.count, ranks.allSatisfy({ (0..<size).contains($0) }) else {
            throw CollectiveError.invalidArgument("subgroup ranks \(ranks) must be distinct ranks of a group of \(size)")
        }
        guard let mine = ranks.firstIndex(of: rank) else { return nil }
        let globals = ranks.map { members[$0] }
        // FNV-1a over the parent tag, the members and the user tag: equal on every member without talking.
        var h: UInt32 = 2_166_136_261
        for v in [groupTag, tag] + globals.map({ UInt32($0) }) {
            for shift in stride(from: 0, to: 32, by: 8) { h = (h ^ ((v >> UInt32(shift)) & 0xFF)) &* 16_777_619 }
        }
        return Communicator(parent: self, members: globals, rank: mine, tag: h == 0 ? 1 : h)
    }

    /// The endpoint of a group rank, for messages.
    public func endpoint(of groupRank: Int) -> String { plane.endpoint(of: members[groupRank]) }

    // MARK: frames

    func nextSequence() -> UInt64 {
        sequence &+= 1
        return sequence
    }

    func deadline() -> Deadline { .after(seconds: options.timeout) }

    /// The header of a frame this rank sends in this group and membership.
    func wireHeader(kind: WireHeader.Kind, dtype: WireHeader.DType, sequence: UInt64, chunk: Int, length: Int) -> WireHeader {
        WireHeader(
            kind: kind, dtype: dtype, group: groupTag, epoch: epoch, sender: UInt32(globalRank), sequence: sequence,
            chunk: UInt32(truncatingIfNeeded: chunk), length: UInt64(length))
    }

    func sendFrame(
        to peer: Int, kind: WireHeader.Kind, dtype: WireHeader.DType, sequence: UInt64, chunk: Int,
        length: Int, payload: DataPlane.Payload, operation: String, deadline: Deadline
    ) throws(CollectiveError) {
        let header = wireHeader(kind: kind, dtype: dtype, sequence: sequence, chunk: chunk, length: length)
        do throws(TransportError) {
            try plane.send(to: members[peer], header: header, payload: payload, deadline: deadline)
            plane.traffic.add(WireHeader.size + length, to: members[peer], via: .socket)
        } catch {
            throw peerError(error, operation: operation, peer: peer)
        }
    }

    /// Sends `bytes` from memory the caller keeps unchanged until `release` is drained (zero-copy for large
    /// frames, copied for small ones).
    func sendBytes(
        to peer: Int, kind: WireHeader.Kind, dtype: WireHeader.DType, sequence: UInt64, chunk: Int,
        bytes: UnsafeRawBufferPointer, release: ZeroCopyRelease, operation: String, deadline: Deadline
    ) throws(CollectiveError) {
        let payload: DataPlane.Payload =
            bytes.count >= options.zeroCopyMinBytes ? .noCopy(bytes, release) : (bytes.count == 0 ? .empty : .copy(bytes))
        try sendFrame(
            to: peer, kind: kind, dtype: dtype, sequence: sequence, chunk: chunk, length: bytes.count,
            payload: payload, operation: operation, deadline: deadline)
    }

    /// Receives the frame `peer` must send next and checks it is exactly the one expected.
    func receiveFrame(
        from peer: Int, kind: WireHeader.Kind, dtype: WireHeader.DType, sequence: UInt64, chunk: Int,
        length: Int, operation: String, deadline: Deadline
    ) throws(CollectiveError) -> Message {
        let key = DataPlane.MailKey(
            epoch: epoch, group: groupTag, sender: UInt32(members[peer]), channel: DataPlane.channel(kind))
        let frame: DataPlane.Frame
        do throws(DataPlane.ReceiveFailure) {
            frame = try plane.receive(key, deadline: deadline, spin: length <= 64 << 10 || plane.isInproc)
        } catch {
            switch error {
            case .timeout:
                throw peerTimeout(operation: operation, peer: peer)
            case .transport(let e):
                throw peerError(e, operation: operation, peer: peer)
            case .wire(let e, let sender):
                let who = sender.flatMap { s in members.firstIndex(of: s) }
                throw .protocolViolation(
                    operation: operation, me: rank, peer: who ?? sender,
                    endpoint: sender.map { plane.endpoint(of: $0) } ?? plane.endpoint, error: e)
            }
        }
        do throws(WireError) {
            try frame.header.expect(
                kind: kind, group: groupTag, sender: UInt32(members[peer]), sequence: sequence,
                chunk: UInt32(truncatingIfNeeded: chunk), dtype: dtype, length: length)
        } catch {
            throw .protocolViolation(operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer), error: error)
        }
        return frame.payload
    }

    /// Waits until libzmq no longer reads any buffer this call lent it, so the caller may modify it.
    func drain(_ release: ZeroCopyRelease, operation: String, peer: Int, deadline: Deadline) throws(CollectiveError) {
        if !release.waitUntilReleased(deadline: deadline) {
            throw peerTimeout(operation: operation + " (flushing sends)", peer: peer)
        }
    }

    // MARK: point to point

    /// Sends `bytes` to `peer` (group rank). Returns once libzmq no longer needs the memory.
    public func send(_ bytes: UnsafeRawBufferPointer, to peer: Int) throws(CollectiveError) {
        try checkPeer(peer)
        let seq = p2pSent[peer, default: 0] &+ 1
        p2pSent[peer] = seq
        let release = ZeroCopyRelease()
        let deadline = deadline()
        try sendBytes(
            to: peer, kind: .pointToPoint, dtype: .bytes, sequence: seq, chunk: 0, bytes: bytes,
            release: release, operation: "send", deadline: deadline)
        try drain(release, operation: "send", peer: peer, deadline: deadline)
    }

    /// Sends `bytes` zero-copy and returns at once; the caller keeps the memory unchanged until
    /// `release.waitUntilReleased`. For streaming many frames (pipeline activations, the p2p benchmark).
    public func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, release: ZeroCopyRelease) throws(CollectiveError) {
        try checkPeer(peer)
        let seq = p2pSent[peer, default: 0] &+ 1
        p2pSent[peer] = seq
        try sendFrame(
            to: peer, kind: .pointToPoint, dtype: .bytes, sequence: seq, chunk: 0, length: bytes.count,
            payload: .noCopy(bytes, release), operation: "send", deadline: deadline())
    }

    /// Receives the next point-to-point message from `peer` into `buffer`, which must have exactly its size.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, from peer: Int) throws(CollectiveError) {
        let m = try receiveMessage(from: peer, expectedBytes: buffer.count)
        m.withBytes { bytes in
            if let to = buffer.baseAddress, let from = bytes.baseAddress { to.copyMemory(from: from, byteCount: bytes.count) }
        }
    }

    /// Receives the next point-to-point message from `peer` as a libzmq message (no copy out).
    public func receiveMessage(from peer: Int, expectedBytes: Int) throws(CollectiveError) -> Message {
        try checkPeer(peer)
        let seq = p2pReceived[peer, default: 0] &+ 1
        p2pReceived[peer] = seq
        return try receiveFrame(
            from: peer, kind: .pointToPoint, dtype: .bytes, sequence: seq, chunk: 0,
            length: expectedBytes, operation: "receive", deadline: deadline())
    }

    public func send(_ values: UnsafeBufferPointer<Float>, to peer: Int) throws(CollectiveError) {
        try send(UnsafeRawBufferPointer(values), to: peer)
    }

    public func receive(into values: UnsafeMutableBufferPointer<Float>, from peer: Int) throws(CollectiveError) {
        try receive(into: UnsafeMutableRawBufferPointer(values), from: peer)
    }

    func checkPeer(_ peer: Int) throws(CollectiveError) {
        guard (0..<size).contains(peer), peer != rank else {
            throw .invalidArgument("rank \(rank): peer \(peer) is not another rank of this group of \(size)")
        }
    }
}

extension Communicator {
    /// Sets the deadline of this communicator's collectives and of the hierarchical sub-groups it formed (which
    /// copied its options when they were made).
    public func setTimeout(_ seconds: Double) {
        options.timeout = seconds
        hierarchy?.local.setTimeout(seconds)
        hierarchy?.cross.setTimeout(seconds)
    }
}
