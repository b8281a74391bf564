import CohortTestSupport
import Collectives
import Foundation
import Testing
import Transport

/// Every collective, ranks as threads over inproc://, against directly computed results.
@Suite(.timeLimit(.minutes(4)))
struct ThreadCollectivesTests {
    static func counts(_ n: Int) -> [Int] { Array(Set([0, 1, max(0, n - 1), n, n + 1, 1000])).sorted() }

    static func fastOptions(sharedMemory: Bool = true) -> CommunicatorOptions {
        var o = CommunicatorOptions()
        o.sharedMemory = sharedMemory
        o.timeout = 20
        o.chunkBytes = 64 << 10  // small chunks so the tests cover multi-chunk pipelining on small buffers
        o.sharedMemoryChunkBytes = 64 << 10  // and more chunks than shared-memory slots (sends queue up)
        return o
    }

    @Test(arguments: 1...8, [false, true])
    func allReduceSumAllSizesBothAlgorithms(size: Int, sharedMemory: Bool) throws {
        let comms = try Communicator.local(size: size, options: Self.fastOptions(sharedMemory: sharedMemory))
        var countList = Self.counts(size)
        if size == 2 || size == 3 || size == 8 { countList.append(1_000_003) }
        let counts = countList
        let results = runRanks(comms) { c -> [[Float]] in
            var out: [[Float]] = []
            for count in counts {
                for algorithm in [AllReduceAlgorithm.ring, .recursiveDoubling, .automatic]
                where !(algorithm == .recursiveDoubling && count > 100_000) {
                    var v = testInput(rank: c.rank, count: count)
                    try c.allReduce(&v, op: .sum, algorithm: algorithm)
                    out.append(v)
                }
            }
            return out
        }
        var expected: [[Float]] = []
        for count in counts {
            for algorithm in [AllReduceAlgorithm.ring, .recursiveDoubling, .automatic]
            where !(algorithm == .recursiveDoubling && count > 100_000) {
                _ = algorithm
                expected.append(expectedSum(size: size, count: count))
            }
        }
        for (rank, r) in results.enumerated() {
            let got = try r.get()
            #expect(got.count == expected.count)
            for (g, e) in zip(got, expected) where g != e {
                Issue.record(
                    "rank \(rank): size \(size) count \(e.count) differs at \(zip(g, e).enumerated().first { $1.0 != $1.1 }!.offset)"
                )
            }
        }
    }

    @Test(arguments: [1, 2, 3, 5, 8])
    func averageIsBitwiseIdenticalAndExactOnIntegers(size: Int) throws {
        let comms = try Communicator.local(size: size, options: Self.fastOptions())
        let results = runRanks(comms) { c -> [[Float]] in
            try [AllReduceAlgorithm.ring, .recursiveDoubling].map { a in
                var v = (0..<5000).map { Float(($0 * 31 + c.rank * 17) % 101) * 0.37 }  // non-exact sums
                try c.allReduce(&v, op: .average, algorithm: a)
                return v
            }
        }
        let all = try results.map { try $0.get() }
        for r in all.dropFirst() { #expect(r == all[0], "ranks differ bitwise") }
        for (a, values) in all[0].enumerated() {
            for i in stride(from: 0, to: 5000, by: 97) {
                let exact = (0..<size).reduce(0.0) { $0 + Double(Float(((i * 31 + $1 * 17) % 101)) * 0.37) } / Double(size)
                #expect(abs(Double(values[i]) - exact) <= 1e-4 * max(1, abs(exact)), "algorithm \(a) index \(i)")
            }
        }
    }

    @Test(arguments: [
        (WirePrecision.bfloat16, 2, true), (.bfloat16, 5, true), (.bfloat16, 3, false), (.float16, 3, false), (.float16, 8, true),
    ])
    func reducedPrecisionWireWithinToleranceAndIdentical(wire: WirePrecision, size: Int, sharedMemory: Bool) throws {
        let comms = try Communicator.local(size: size, options: Self.fastOptions(sharedMemory: sharedMemory))
        let count = 200_001
        let input: @Sendable (Int) -> [Float] = { rank in
            (0..<count).map { i -> Float in Float(sin(Double(i &* 3 &+ rank))) * 10 }
        }
        let results = runRanks(comms) { c -> [[Float]] in
            try [AllReduceAlgorithm.ring, .recursiveDoubling].map { a in
                var v = input(c.rank)
                try c.allReduce(&v, op: .sum, wire: wire, algorithm: a)
                return v
            }
        }
        let all = try results.map { try $0.get() }
        for r in all.dropFirst() { #expect(r == all[0], "ranks differ bitwise with \(wire)") }
        let inputs: [[Float]] = (0..<size).map { input($0) }
        for values in all[0] {
            var worst: Float = 0
            for i in 0..<count {
                let exact = inputs.reduce(Float(0)) { $0 + $1[i] }
                let magnitude = inputs.reduce(Float(0)) { $0 + abs($1[i]) }
                let bound = Float(size) * wire.relativeTolerancePerHop * magnitude + 1e-6
                worst = max(worst, abs(values[i] - exact) / bound)
            }
            #expect(worst <= 1, "\(wire) error exceeds the documented bound by \(worst)×")
        }
    }

    @Test(arguments: 1...8, [false, true])
    func broadcastAllGatherReduceScatterBarrier(size: Int, sharedMemory: Bool) throws {
        let comms = try Communicator.local(size: size, options: Self.fastOptions(sharedMemory: sharedMemory))
        var countList = Self.counts(size)
        if size == 3 { countList.append(1_000_003) }
        let counts = countList
        let results = runRanks(comms) { c -> Bool in
            for count in counts {
                for root in Array(Set([0, size - 1, size / 2])).sorted() {
                    var v = c.rank == root ? testInput(rank: 100 + root, count: count) : [Float](repeating: -1, count: count)
                    try v.withUnsafeMutableBufferPointer { try c.broadcast($0, root: root) }
                    guard v == testInput(rank: 100 + root, count: count) else {
                        throw TestFailure("broadcast root \(root) count \(count)")
                    }
                }
                let gathered = try c.allGather(testInput(rank: c.rank, count: count))
                let expected = (0..<size).flatMap { testInput(rank: $0, count: count) }
                guard gathered == expected else { throw TestFailure("allgather count \(count)") }

                var v = testInput(rank: c.rank, count: count)
                let mine = try v.withUnsafeMutableBufferPointer { try c.reduceScatter($0, op: .sum) }
                let sum = expectedSum(size: size, count: count)
                guard mine == c.reduceScatterRange(count: count, rank: c.rank), Array(v[mine]) == Array(sum[mine]) else {
                    throw TestFailure("reducescatter count \(count)")
                }
                try c.barrier()
            }
            return true
        }
        for (rank, r) in results.enumerated() {
            do { _ = try r.get() } catch { Issue.record("rank \(rank): \(error)") }
        }
    }

    /// Ranks that turn shared memory off keep the sockets on both their links, the others pair up where they can:
    /// a ring that mixes both kinds of link (as one spanning hosts does) gives the same sums, and each link is
    /// shared memory exactly where both ends wanted it.
    @Test(arguments: [[1, 2], [0], [3], [1, 3]])
    func mixedSharedMemoryAndSocketLinks(socketsOnly: [Int]) throws {
        let comms = try Communicator.local(size: 4, options: Self.fastOptions())
        for r in socketsOnly { comms[r].options.sharedMemory = false }
        let count = 1_000_003
        let results = runRanks(comms) { c -> [Float] in
            var v = testInput(rank: c.rank, count: count)
            try c.allReduce(&v, op: .sum, algorithm: .ring)
            var w = testInput(rank: c.rank, count: 77)
            try c.allReduce(&w, op: .sum, algorithm: .ring)
            return v + w
        }
        let expected = expectedSum(size: 4, count: count) + expectedSum(size: 4, count: 77)
        for (rank, r) in results.enumerated() {
            let got = try r.get()
            #expect(got == expected, "rank \(rank)")
        }
        for r in 0..<4 {
            let right = (r + 1) % 4
            let wanted = !socketsOnly.contains(r) && !socketsOnly.contains(right)
            #expect(comms[r].sharedMemoryLinks.outbound == wanted, "link \(r)→\(right)")
            #expect(comms[right].sharedMemoryLinks.inbound == wanted, "link \(r)→\(right)")
        }
    }

    @Test func subgroupsRunIndependentlyAndSideBySide() throws {
        let comms = try Communicator.local(size: 6, options: Self.fastOptions())
        let results = runRanks(comms) { c -> [Float] in
            // Two pipeline "stages" {0,2,4} and {1,3,5}, and the world, interleaved.
            let stage = try c.subgroup(ranks: c.rank % 2 == 0 ? [0, 2, 4] : [1, 3, 5])!
            _ = try c.subgroup(ranks: [0, 1])  // non-members get nil; members get a group they don't use here
            var a = [Float](repeating: Float(c.rank), count: 100_000)
            try stage.allReduce(&a)
            var w = [Float](repeating: 1, count: 10)
            try c.allReduce(&w)
            var b = [Float](repeating: Float(c.rank), count: 10)
            try stage.allReduce(&b)
            if stage.rank == 1 { try [Float](repeating: 9, count: 3).withUnsafeBufferPointer { try stage.send($0, to: 2) } }
            if stage.rank == 2 {
                var got = [Float](repeating: 0, count: 3)
                try got.withUnsafeMutableBufferPointer { try stage.receive(into: $0, from: 1) }
                guard got == [9, 9, 9] else { throw TestFailure("p2p in subgroup") }
            }
            return [a[0], a[99_999], w[0], b[0], Float(stage.size), Float(stage.rank)]
        }
        for (rank, r) in results.enumerated() {
            let v = try r.get()
            let s: Float = rank % 2 == 0 ? 6 : 9
            #expect(v == [s, s, 6, s, 3, Float(rank / 2)], "rank \(rank)")
        }
    }
}
