import CohortTestSupport
import Collectives
import Foundation
import Testing
import Transport

/// The data plane with the job's token (curve off), over real tcp sockets: only holders of the token get frames
/// into an inbox, and nothing a peer sends (junk, bogus headers, frames for ranks or groups that do not exist)
/// stops a collective: it is dropped and counted.
@Suite(.timeLimit(.minutes(3)))
struct TokenDataPlaneTests {
    static func options(token: JobToken?, timeout: Double = 10) -> CommunicatorOptions {
        var o = CommunicatorOptions()
        o.timeout = timeout
        o.token = token
        o.sharedMemory = false  // the sockets are the point
        return o
    }

    /// A group of `size` ranks whose planes admit `token`, and the planes themselves.
    static func group(size: Int, token: JobToken) throws -> ([Communicator], [DataPlane]) {
        let planes = try (0..<size).map { _ in try DataPlane(bind: "tcp://127.0.0.1:0", options: options(token: token)) }
        for p in planes { p.setWarningHandler { _ in } }
        let table = planes.map(\.endpoint)
        return (try planes.enumerated().map { try Communicator(plane: $1, rank: $0, peers: table) }, planes)
    }

    static func allReduce(_ comms: [Communicator], count: Int = 100_001) throws {
        let results = runRanks(comms, timeout: 30) { c -> [Float] in
            var v = testInput(rank: c.rank, count: count)
            try c.allReduce(&v)
            return v
        }
        let expected = expectedSum(size: comms.count, count: count)
        for r in results { #expect(try r.get() == expected) }
    }

    static func waitFor(_ condition: () -> Bool, seconds: Double = 5) {
        let start = Date()
        while !condition() && Date().timeIntervalSince(start) < seconds { usleep(10_000) }
    }

    @Test func peersWithoutTheTokenOrWithAWrongOneAreRefusedAndTheGroupGoesOn() throws {
        let token = JobToken.generate()
        let (comms, planes) = try Self.group(size: 2, token: token)
        let context = try Context(ioThreads: 1)
        let target = planes[0].endpoint
        let none = try Socket(context, type: .push, linger: .zero)
        try none.connect(target)
        let wrong = try Socket(context, type: .push, linger: .zero)
        try wrong.makeTokenClient(try JobToken(String(repeating: "y", count: 64)))
        try wrong.connect(target)
        // A well-formed frame that, admitted, would sit in rank 0's mailbox as rank 1's next all-reduce chunk.
        let forged = WireHeader(kind: .reduce, dtype: .float32, group: 0, sender: 1, sequence: 1, chunk: 0, length: 4)
        for s in [none, wrong] { try? s.sendMultipart([forged.bytes, [0, 0, 0x80, 0x7F]], deadline: .after(seconds: 1)) }
        Self.waitFor { planes[0].droppedFrames.counts[.unauthenticated, default: 0] >= 1 }
        #expect(planes[0].droppedFrames.counts[.unauthenticated, default: 0] >= 1, "\(planes[0].droppedFrames.counts)")
        try Self.allReduce(comms)
        #expect(planes[0].droppedFrames.counts[.malformed, default: 0] == 0)
    }

    @Test func aTokenHolderCannotSendWithoutItsPlaneAdmittingIt() throws {
        // The other direction: a plane whose token differs can't deliver to the group (its handshake fails).
        let token = JobToken.generate()
        let member = try DataPlane(bind: "tcp://127.0.0.1:0", options: Self.options(token: token, timeout: 0.5))
        member.setWarningHandler { _ in }
        let intruder = try DataPlane(
            bind: "tcp://127.0.0.1:0", options: Self.options(token: JobToken.generate(), timeout: 0.5))
        let table = [member.endpoint, intruder.endpoint]
        let c0 = try Communicator(plane: member, rank: 0, peers: table)
        let c1 = try Communicator(plane: intruder, rank: 1, peers: table)
        let sent = [Float](repeating: 1, count: 4)
        try sent.withUnsafeBufferPointer { try c1.send($0, to: 0) }
        var got = [Float](repeating: 0, count: 4)
        #expect {
            try got.withUnsafeMutableBufferPointer { try c0.receive(into: $0, from: 1) }
        } throws: { e in
            (e as? CollectiveError)?.peer == 1 && "\(e)".contains("did not answer")
        }
        #expect(member.droppedFrames.counts[.unauthenticated, default: 0] >= 1)
    }

    /// Junk from a token holder between and during collectives: dropped, counted, and the results are exact.
    @Test func junkAndBogusHeadersAreDroppedAndCountedMidJob() throws {
        let token = JobToken.generate()
        let (comms, planes) = try Self.group(size: 3, token: token)
        try Self.allReduce(comms)
        let lines = LineCollector()
        planes[0].setWarningHandler { lines.add($0) }
        let context = try Context(ioThreads: 1)
        let insider = try Socket(context, type: .push, linger: .milliseconds(500))
        try insider.makeTokenClient(token)
        try insider.connect(planes[0].endpoint)
        var badMagic = WireHeader(kind: .reduce, dtype: .float32, group: 0, sender: 1, sequence: 2, chunk: 0, length: 8).bytes
        badMagic[0] ^= 0xFF
        let unknownRank = WireHeader(kind: .reduce, dtype: .bytes, group: 0, sender: 42, sequence: 1, chunk: 0, length: 4)
        let shortPayload = WireHeader(kind: .gather, dtype: .bytes, group: 9, sender: 2, sequence: 1, chunk: 0, length: 16)
        let junk: [[[UInt8]]] = [
            [Array("hello, not a header".utf8)],  // no header at all
            [badMagic, [UInt8](repeating: 0, count: 8)],  // a header that does not decode
            [unknownRank.bytes],  // a header without its payload
            [unknownRank.bytes, [1, 2, 3, 4]],  // a rank not in the peer table
            [shortPayload.bytes, [1, 2, 3]],  // a payload of another size than announced
            [shortPayload.bytes, [UInt8](repeating: 0, count: 16), [1]],  // a third part
        ]
        for frames in junk { try insider.sendMultipart(frames, deadline: .after(seconds: 2)) }
        // Mid-job: the junk arrives while the ranks all-reduce.
        try Self.allReduce(comms)
        for frames in junk { try insider.sendMultipart(frames, deadline: .after(seconds: 2)) }
        try Self.allReduce(comms)
        Self.waitFor { planes[0].droppedFrames.total >= 12 }
        try Self.allReduce(comms, count: 17)
        let counts = planes[0].droppedFrames.counts
        #expect(counts[.malformed, default: 0] == 10, "\(counts)")
        #expect(counts[.unknownSender, default: 0] == 2, "\(counts)")
        // One warning line per peer per interval, not one per frame.
        #expect(lines.lines.count == 1, "\(lines.lines)")
        #expect(lines.lines.first?.contains("from 127.0.0.1") == true, "\(lines.lines)")
    }

    /// Frames for keys nobody receives (groups no communicator has) are queued only up to a bound.
    @Test func framesForUnknownGroupsAreBounded() throws {
        let token = JobToken.generate()
        let (comms, planes) = try Self.group(size: 2, token: token)
        let context = try Context(ioThreads: 1)
        let insider = try Socket(context, type: .push, linger: .milliseconds(500))
        try insider.makeTokenClient(token)
        try insider.connect(planes[0].endpoint)
        let extra = 50
        for g in 0..<(DataPlane.maxQueuedKeys + extra) {
            let h = WireHeader(
                kind: .pointToPoint, dtype: .bytes, group: UInt32(0x1000 + g), sender: 1, sequence: 1, chunk: 0, length: 0)
            try insider.sendMultipart([h.bytes, []], deadline: .after(seconds: 5))
        }
        // Receiving for the real group pulls the flood through the mailbox.
        for _ in 0..<200 where planes[0].droppedFrames.counts[.overflow, default: 0] < extra {
            try Self.allReduce(comms, count: 1000)
            usleep(5000)
        }
        #expect(planes[0].droppedFrames.counts[.overflow, default: 0] == extra, "\(planes[0].droppedFrames.counts)")
        try Self.allReduce(comms)
    }
}

final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []
    func add(_ line: String) { lock.withLock { collected.append(line) } }
    var lines: [String] { lock.withLock { collected } }
}
