import CohortTestSupport
import Collectives
import Foundation
import Testing
import Transport

/// Dead peers and malformed frames, ranks as threads: every failure is an error naming the peer, within the
/// deadline; nothing hangs.
@Suite(.timeLimit(.minutes(3)))
struct FaultTests {
    static func options(timeout: Double) -> CommunicatorOptions {
        var o = CommunicatorOptions()
        o.timeout = timeout
        return o
    }

    @Test(arguments: [AllReduceAlgorithm.ring, .recursiveDoubling])
    func aPeerThatNeverAnswersIsNamedWithinTheDeadline(algorithm: AllReduceAlgorithm) throws {
        let comms = try Communicator.local(size: 2, options: Self.options(timeout: 0.5))
        let start = Date()
        var v = [Float](repeating: 1, count: 100_000)
        #expect {
            try comms[0].allReduce(&v, algorithm: algorithm)
        } throws: { error in
            guard let e = error as? CollectiveError, e.peer == 1 else { return false }
            return "\(e)".contains("rank 1 (inproc://") && "\(e)".contains("did not answer within 500 ms")
        }
        #expect(Date().timeIntervalSince(start) < 2)
    }

    @Test func everyCollectiveTimesOutWithoutPeers() throws {
        let comms = try Communicator.local(size: 3, options: Self.options(timeout: 0.2))
        let c = comms[1]
        var v = [Float](repeating: 1, count: 10)
        #expect(throws: CollectiveError.self) { try c.barrier() }
        #expect(throws: CollectiveError.self) { try v.withUnsafeMutableBufferPointer { try c.broadcast($0, root: 0) } }
        #expect(throws: CollectiveError.self) { _ = try c.allGather(v) }
        #expect(throws: CollectiveError.self) { try v.withUnsafeMutableBufferPointer { _ = try c.reduceScatter($0) } }
        #expect(throws: CollectiveError.self) { try v.withUnsafeMutableBufferPointer { try c.receive(into: $0, from: 2) } }
    }

    @Test func aPeerDyingMidCollectiveMakesEverySurvivorFail() throws {
        // Rank 3 of 4 takes part in two all-reduces and then stops answering; the others are in the third.
        let comms = try Communicator.local(size: 4, options: Self.options(timeout: 1))
        let start = Date()
        let results = runRanks(comms, timeout: 20) { c -> Int in
            var v = [Float](repeating: 1, count: 1 << 18)
            for i in 0..<5 {
                if c.rank == 3 && i == 2 { return i }
                try c.allReduce(&v)
            }
            return 5
        }
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(try results[3].get() == 2)
        for r in 0..<3 {
            #expect(throws: CollectiveError.self) { try results[r].get() }
        }
    }

    /// Sends raw frames from rank 1's sockets to rank 0 and checks rank 0's receive refuses them.
    func refused(_ frames: [[UInt8]], maxFrameBytes: Int = 1 << 20, expect: (String) -> Bool) throws {
        var o = Self.options(timeout: 2)
        o.maxFrameBytes = maxFrameBytes
        let comms = try Communicator.local(size: 2, options: o)
        try comms[1].plane.sendRawFrames(frames, to: 0)
        var buffer = [Float](repeating: 0, count: 4)
        #expect {
            try buffer.withUnsafeMutableBufferPointer { try comms[0].receive(into: $0, from: 1) }
        } throws: { error in
            guard let e = error as? CollectiveError, case .protocolViolation = e else { return false }
            return expect("\(e)")
        }
    }

    static func header(
        kind: WireHeader.Kind = .pointToPoint, dtype: WireHeader.DType = .bytes, sender: UInt32 = 1,
        sequence: UInt64 = 1, length: UInt64 = 16
    ) -> [UInt8] {
        WireHeader(kind: kind, dtype: dtype, group: 0, sender: sender, sequence: sequence, chunk: 0, length: length).bytes
    }

    /// Sends malformed frames from rank 1's sockets to rank 0, then the frame rank 0 expects: the junk is dropped
    /// and counted (one warning naming what was wrong), and the receive gets the good frame.
    func dropped(_ frames: [[UInt8]], maxFrameBytes: Int = 1 << 20, expect: (String) -> Bool) throws {
        var o = Self.options(timeout: 2)
        o.maxFrameBytes = maxFrameBytes
        let comms = try Communicator.local(size: 2, options: o)
        let lines = LineCollector()
        comms[0].plane.setWarningHandler { lines.add($0) }
        try comms[1].plane.sendRawFrames(frames, to: 0)
        let good = [Float](repeating: 1.5, count: 4)
        try comms[1].plane.sendRawFrames([Self.header(), good.withUnsafeBytes { Array($0) }], to: 0)
        var buffer = [Float](repeating: 0, count: 4)
        try buffer.withUnsafeMutableBufferPointer { try comms[0].receive(into: $0, from: 1) }
        #expect(buffer == good)
        #expect(comms[0].plane.droppedFrames.counts == [.malformed: 1], "\(comms[0].plane.droppedFrames.counts)")
        #expect(lines.lines.count == 1 && expect(lines.lines[0]), "\(lines.lines)")
    }

    @Test func wrongMagicIsDropped() throws {
        var h = Self.header()
        h[0] ^= 0xFF
        try dropped([h, [UInt8](repeating: 0, count: 16)]) { $0.contains("magic") }
    }

    @Test func wrongVersionIsDroppedSayingExpectedAndGot() throws {
        var h = Self.header()
        h[4] = 9
        try dropped([h, [UInt8](repeating: 0, count: 16)]) { $0.contains("expected 1, got 9") }
    }

    @Test func truncatedHeaderIsDropped() throws {
        try dropped([Array(Self.header().prefix(20)), [UInt8](repeating: 0, count: 16)]) { $0.contains("20 bytes, expected 32") }
    }

    @Test func truncatedPayloadIsDropped() throws {
        try dropped([Self.header(length: 16), [UInt8](repeating: 0, count: 8)]) {
            $0.contains("payload frame is 8 bytes but the header announced 16")
        }
    }

    @Test func oversizedFrameIsDroppedBeforeUse() throws {
        try dropped([Self.header(length: 1 << 30), [UInt8](repeating: 0, count: 16)], maxFrameBytes: 1 << 20) {
            $0.contains("exceeds the maximum of 1048576")
        }
    }

    @Test func junkBytesAreDropped() throws {
        try dropped([Array("not a wire header".utf8)]) { $0.contains("malformed") }
    }

    @Test func outOfSequenceFrameIsRefusedSayingExpectedAndGot() throws {
        try refused([Self.header(sequence: 7), [UInt8](repeating: 0, count: 16)]) {
            $0.contains("expected sequence number 1, got 7")
        }
    }

    @Test func wrongLengthForTheReceiverIsRefused() throws {
        try refused([Self.header(length: 8), [UInt8](repeating: 0, count: 8)]) { $0.contains("expected byte length 16, got 8") }
    }

    @Test func headerWithoutPayloadIsDropped() throws {
        try dropped([Self.header()]) { $0.contains("not followed by a payload") }
    }
}
