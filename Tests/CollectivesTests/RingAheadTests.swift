import CohortTestSupport
import Collectives
import Foundation
import Testing
import Transport

/// A join's new ring negotiated ahead (`Communicator(ahead:…)`): the members form the next membership's
/// communicator and negotiate its links on another thread while their old membership's all-reduces go on over
/// the same planes; the joiner negotiates its side meanwhile, as it would. Ranks as threads over inproc://, with
/// shared memory on and off.
@Suite(.timeLimit(.minutes(2)))
struct RingAheadTests {
    @Test(arguments: [true, false])
    func membersNegotiateTheNextRingWhileTheOldOneRuns(sharedMemory: Bool) throws {
        var options = CommunicatorOptions()
        options.timeout = 10
        options.sharedMemory = sharedMemory
        let planes = try Communicator.local(size: 3, options: options).map(\.plane)
        let table = planes.map(\.endpoint)
        // The old membership: planes 0 and 1. The new one puts the joiner (plane 2) in the middle, so that every
        // member's neighbours change.
        let old = try (0..<2).map { try Communicator(plane: planes[$0], rank: $0, peers: Array(table[0..<2]), epoch: 1) }
        let next = [table[0], table[2], table[1]]
        let ahead = [
            try Communicator(ahead: planes[0], rank: 0, peers: next, epoch: 2),
            try Communicator(ahead: planes[1], rank: 2, peers: next, epoch: 2),
        ]
        let joiner = try Communicator(plane: planes[2], rank: 1, peers: next, epoch: 2)
        let rounds = runRanks(old + [joiner]) { c -> Int in
            if c === joiner {
                try c.establishLinks()
                return 1
            }
            let done = DispatchSemaphore(value: 0)
            let failure = FailureBox()
            Thread {
                ahead[c.rank].quietWaits = true
                do { try ahead[c.rank].establishLinks() } catch { failure.set("\(error)") }
                done.signal()
            }.start()
            var finished = false
            var n = 0
            while true {
                if !finished && done.wait(timeout: .now()) == .success { finished = true }
                var both: [Float] = [finished ? 1 : 0]
                try c.allReduce(&both, op: .sum)
                var buffer = [Float](repeating: Float(c.rank + 1), count: 4096)
                try c.allReduce(&buffer, op: .sum)
                #expect(buffer.allSatisfy { $0 == 3 }, "the old membership's all-reduce")
                n += 1
                if both[0] == 2 { break }
            }
            if let f = failure.get() { throw CollectiveError.invalidArgument(f) }
            return n
        }
        for r in rounds { #expect(try r.get() >= 1) }
        // The members leave the old membership; every rank calls establishLinks first (the members' are ready).
        try planes[0].resetPeers(next, globalRank: 0, epoch: 2)
        try planes[1].resetPeers(next, globalRank: 2, epoch: 2)
        let world = [ahead[0], joiner, ahead[1]]
        let results = runRanks(world) { c -> [Float] in
            c.quietWaits = false
            try c.establishLinks()
            var v = (0..<1000).map { Float($0 % 7) * Float(c.rank + 1) }
            try c.allReduce(&v, op: .sum)
            return v
        }
        let expected = (0..<1000).map { Float($0 % 7) * 6 }
        for (r, result) in results.enumerated() { #expect(try result.get() == expected, "rank \(r)") }
        for c in world {
            #expect(c.sharedMemoryLinks.outbound == sharedMemory && c.sharedMemoryLinks.inbound == sharedMemory, "rank \(c.rank)")
        }
    }
}

/// A background thread's error, for the rank thread that waits on it.
private final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var message: String?
    func set(_ m: String) { lock.withLock { message = m } }
    func get() -> String? { lock.withLock { message } }
}
