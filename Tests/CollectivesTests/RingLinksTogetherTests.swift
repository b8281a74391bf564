import CohortTestSupport
import Collectives
import Testing

/// `Communicator.establishRingLinks(together:)`, which an elastic grid's stage calls for its groups where a new
/// membership meets: several overlapping groups negotiate their rings step by step side by side, and afterwards
/// every group's collectives run over the links chosen (shared memory where both ends offer it) with their
/// sequence numbers still in step.
@Suite(.timeLimit(.minutes(4)))
struct RingLinksTogetherTests {
    /// The world, the ranks of one parity (a grid's replicas of one stage) and consecutive pairs (its pipelines;
    /// the last is alone at an odd size): each group's ring sum is exact, each link is shared memory exactly where
    /// both of its ends allow it, and a later collective of every group still matches.
    @Test(arguments: 2...6, [[Int](), [1]])
    func overlappingGroupsNegotiateTogether(size: Int, socketsOnly: [Int]) throws {
        let comms = try Communicator.local(size: size, options: ThreadCollectivesTests.fastOptions())
        for r in socketsOnly where r < size { comms[r].options.sharedMemory = false }
        let count = 70_001
        let results = runRanks(comms) { world -> [[Float]] in
            let parity = try world.subgroup(ranks: Array(stride(from: world.rank % 2, to: size, by: 2)), tag: 1)
            let pair = try world.subgroup(ranks: Array((world.rank / 2 * 2)..<min(world.rank / 2 * 2 + 2, size)), tag: 2)
            let groups = [world, parity, pair].compactMap { $0 }
            try Communicator.establishRingLinks(together: groups)
            var sums: [[Float]] = []
            for g in groups {
                var v = testInput(rank: world.rank, count: count)
                try g.allReduce(&v, op: .sum, algorithm: .ring)
                sums.append(v)
            }
            var small = testInput(rank: world.rank, count: 5)
            try world.allReduce(&small, op: .sum)
            return sums + [small]
        }
        func sum(of members: [Int], count: Int) -> [Float] {
            (0..<count).map { i in members.reduce(Float(0)) { $0 + testValue(rank: $1, index: i) } }
        }
        for (rank, r) in results.enumerated() {
            let got = try r.get()
            let parity = Array(stride(from: rank % 2, to: size, by: 2))
            let pair = Array((rank / 2 * 2)..<min(rank / 2 * 2 + 2, size))
            #expect(got[0] == sum(of: Array(0..<size), count: count), "rank \(rank): world")
            #expect(got[1] == sum(of: parity, count: count), "rank \(rank): parity group \(parity)")
            #expect(got[2] == sum(of: pair, count: count), "rank \(rank): pair \(pair)")
            #expect(got[3] == sum(of: Array(0..<size), count: 5), "rank \(rank): a later small all-reduce")
        }
        for r in 0..<size {
            let right = (r + 1) % size
            let wanted = !socketsOnly.contains(r) && !socketsOnly.contains(right)
            #expect(comms[r].sharedMemoryLinks.outbound == wanted, "world link \(r)→\(right)")
        }
    }

    /// A group whose links exist already is left alone, and the others are negotiated: the same sums as before.
    @Test func groupsWithLinksAreLeftAlone() throws {
        let comms = try Communicator.local(size: 4, options: ThreadCollectivesTests.fastOptions())
        let results = runRanks(comms) { world -> [Float] in
            var warm = testInput(rank: world.rank, count: 100)
            try world.allReduce(&warm, op: .sum, algorithm: .ring)
            let half = try world.subgroup(ranks: world.rank < 2 ? [0, 1] : [2, 3], tag: 7)
            try Communicator.establishRingLinks(together: [world, half].compactMap { $0 })
            var v = testInput(rank: world.rank, count: 1000)
            try half?.allReduce(&v, op: .sum, algorithm: .ring)
            try world.allReduce(&v, op: .sum, algorithm: .ring)
            return v
        }
        // Each half sums its two ranks; the world then adds both halves: every rank's input counted twice.
        let expected = expectedSum(size: 4, count: 1000).map { $0 * 2 }
        for (rank, r) in results.enumerated() {
            let got = try r.get()
            for i in got.indices where abs(got[i] - expected[i]) > 1e-4 * max(1, abs(expected[i])) {
                Issue.record("rank \(rank) element \(i): \(got[i]) against \(expected[i])")
                break
            }
        }
    }
}
