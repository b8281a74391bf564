import CohortTestSupport
import Collectives
import Foundation
import Testing
import Transport

/// The membership seam: every frame carries its membership's epoch, and `DataPlane.resetPeers` re-forms the
/// plane for a new membership. Ranks as threads over inproc://.
@Suite(.timeLimit(.minutes(3)))
struct MembershipEpochTests {
    static func options(timeout: Double) -> CommunicatorOptions {
        var o = CommunicatorOptions()
        o.timeout = timeout
        return o
    }

    /// A point-to-point frame from rank 1 to rank 0 as rank 1's communicator would send it, in `epoch`.
    static func frame(epoch: UInt32, group: UInt32 = 0, sequence: UInt64 = 1, sender: UInt32 = 1, fill: UInt8) -> [[UInt8]] {
        let h = WireHeader(
            kind: .pointToPoint, dtype: .bytes, group: group, epoch: epoch, sender: sender, sequence: sequence,
            chunk: 0, length: 16)
        return [h.bytes, [UInt8](repeating: fill, count: 16)]
    }

    /// Both planes of a local pair moved to membership `epoch`, with the same table.
    static func reform(_ comms: [Communicator], epoch: UInt32) throws -> [Communicator] {
        let table = comms.map(\.plane.endpoint)
        return try comms.map { try Communicator(plane: $0.plane, rank: $0.rank, peers: table, epoch: epoch) }
    }

    @Test func aStaleEpochFrameIsNotDeliveredToAReceiveOfTheCurrentEpoch() throws {
        let next = try Self.reform(Communicator.local(size: 2, options: Self.options(timeout: 2)), epoch: 1)
        #expect(next[0].epoch == 1 && next[0].plane.epoch == 1)
        // The stale frame comes first, with the sequence number the receive expects: only its epoch differs.
        try next[1].plane.sendRawFrames(Self.frame(epoch: 0, fill: 0xAA), to: 0)
        try next[1].plane.sendRawFrames(Self.frame(epoch: 1, fill: 0x55), to: 0)
        var got = [UInt8](repeating: 0, count: 16)
        try got.withUnsafeMutableBytes { try next[0].receive(into: $0, from: 1) }
        #expect(got == [UInt8](repeating: 0x55, count: 16))
        #expect(next[0].plane.staleFramesDropped == 1)
    }

    @Test func aStaleEpochFrameAloneLeavesTheReceiveTimingOut() throws {
        let next = try Self.reform(Communicator.local(size: 2, options: Self.options(timeout: 0.3)), epoch: 1)
        try next[1].plane.sendRawFrames(Self.frame(epoch: 0, fill: 0xAA), to: 0)
        var got = [UInt8](repeating: 0, count: 16)
        #expect {
            try got.withUnsafeMutableBytes { try next[0].receive(into: $0, from: 1) }
        } throws: { error in
            guard let e = error as? CollectiveError, case .peerTimeout = e else { return false }
            return true
        }
        #expect(next[0].plane.staleFramesDropped == 1)
    }

    /// Frames queued for the old membership when the plane moves on are dropped; a later membership's frames
    /// (a peer that re-formed first) wait for it.
    @Test func resetDropsQueuedFramesOfEarlierEpochsAndKeepsLaterOnes() throws {
        let comms = try Communicator.local(size: 2, options: Self.options(timeout: 2))
        // Frames for another group of epoch 0 and for epoch 2 arrive before the one epoch 0's receive wants:
        // that receive queues them in the mailbox.
        try comms[1].plane.sendRawFrames(Self.frame(epoch: 0, group: 5, sequence: 1, fill: 0x11), to: 0)
        try comms[1].plane.sendRawFrames(Self.frame(epoch: 0, group: 5, sequence: 2, fill: 0x22), to: 0)
        try comms[1].plane.sendRawFrames(Self.frame(epoch: 2, fill: 0x33), to: 0)
        try comms[1].plane.sendRawFrames(Self.frame(epoch: 0, fill: 0x44), to: 0)
        var got = [UInt8](repeating: 0, count: 16)
        try got.withUnsafeMutableBytes { try comms[0].receive(into: $0, from: 1) }
        #expect(got == [UInt8](repeating: 0x44, count: 16))
        #expect(comms[0].plane.staleFramesDropped == 0)
        let next = try Self.reform(comms, epoch: 2)
        #expect(next[0].plane.staleFramesDropped == 2)
        try got.withUnsafeMutableBytes { try next[0].receive(into: $0, from: 1) }
        #expect(got == [UInt8](repeating: 0x33, count: 16))
        #expect(next[0].plane.staleFramesDropped == 2)
    }

    /// A joiner's frames can come before this rank leaves the old membership, from a rank the old table does not
    /// have (a 2 → 3 join's rank 2): they wait for the new table. A sender outside the table of its own membership
    /// is still dropped.
    @Test func aLaterMembershipsFrameFromANewRankWaitsForItsTable() throws {
        let comms = try Communicator.local(size: 2, options: Self.options(timeout: 2))
        try comms[1].plane.sendRawFrames(Self.frame(epoch: 1, sender: 2, fill: 0x66), to: 0)
        try comms[1].plane.sendRawFrames(Self.frame(epoch: 0, sequence: 1, sender: 2, fill: 0x77), to: 0)
        try comms[1].plane.sendRawFrames(Self.frame(epoch: 0, fill: 0x44), to: 0)
        var got = [UInt8](repeating: 0, count: 16)
        try got.withUnsafeMutableBytes { try comms[0].receive(into: $0, from: 1) }
        #expect(got == [UInt8](repeating: 0x44, count: 16))
        #expect(comms[0].plane.droppedFrames.counts[.unknownSender] == 1, "epoch 0's sender 2 is not in its table")
        let table = comms.map(\.plane.endpoint) + ["inproc://cohort-joiner-never-dialled"]
        let grown = try Communicator(plane: comms[0].plane, rank: 0, peers: table, epoch: 1)
        try got.withUnsafeMutableBytes { try grown.receive(into: $0, from: 2) }
        #expect(got == [UInt8](repeating: 0x66, count: 16))
    }

    /// The outboxes are keyed by rank: when the ranks move in a new membership, every frame must reach the
    /// process that now holds the rank, not the socket the old table had for it.
    @Test func reformedMembershipWithMovedRanksReachesTheNewHolders() throws {
        let comms = try Communicator.local(size: 3, options: Self.options(timeout: 2))
        let processes = [0, 1, 2]
        try Self.allToAll(comms, processes: processes)  // every outbox of every plane now exists
        // Process p takes rank (p + 2) % 3: the table rotates.
        let moved = [1, 2, 0]
        let table = moved.map { comms[$0].plane.endpoint }
        let next = try moved.enumerated().map { rank, p in
            try Communicator(plane: comms[p].plane, rank: rank, peers: table, epoch: 1)
        }
        try Self.allToAll(next, processes: moved)
        let results = runRanks(next, timeout: 10) { c -> Float in
            var v = [Float](repeating: 1, count: 1000)
            try c.allReduce(&v)
            return v[999]
        }
        for r in results { #expect(try r.get() == 3) }
    }

    /// Every rank sends the index of its process to every other rank, then checks what each rank sent is the
    /// index of the process that holds that rank (`processes[rank]`).
    static func allToAll(_ comms: [Communicator], processes: [Int]) throws {
        let results = runRanks(comms, timeout: 10) { c -> [Float] in
            let me: [Float] = [Float(processes[c.rank])]
            for peer in 0..<c.size where peer != c.rank {
                try me.withUnsafeBufferPointer { try c.send($0, to: peer) }
            }
            var heard = [Float](repeating: -1, count: c.size)
            for peer in 0..<c.size where peer != c.rank {
                var one: [Float] = [-1]
                try one.withUnsafeMutableBufferPointer { try c.receive(into: $0, from: peer) }
                heard[peer] = one[0]
            }
            return heard
        }
        for (rank, r) in results.enumerated() {
            let heard = try r.get()
            for peer in 0..<comms.count where peer != rank {
                #expect(heard[peer] == Float(processes[peer]), "rank \(rank) heard \(heard[peer]) from rank \(peer)")
            }
        }
    }

    @Test func theEpochNeverGoesBack() throws {
        let next = try Self.reform(Communicator.local(size: 2), epoch: 3)
        let table = next.map(\.plane.endpoint)
        #expect(throws: CollectiveError.self) {
            try next[0].plane.resetPeers(table, globalRank: 0, epoch: 2)
        }
    }
}
