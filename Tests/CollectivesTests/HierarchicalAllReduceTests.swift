import CohortTestSupport
import Collectives
import Foundation
import Testing

/// Hierarchical all-reduce (within hosts, then across, then within) against the exact sum and the flat ring, with
/// pretend hosts of consecutive ranks: as threads over inproc://, and as rank processes over tcp.
@Suite(.timeLimit(.minutes(3)))
struct HierarchicalAllReduceTests {
    static let shapes = [(2, 2), (2, 3), (3, 2), (3, 3)]

    @Test(arguments: shapes, [true, false])
    func matchesTheFlatRingAndTheExactSum(shape: (hosts: Int, perHost: Int), sharedMemory: Bool) throws {
        let size = shape.hosts * shape.perHost
        let comms = try Communicator.local(size: size, options: ThreadCollectivesTests.fastOptions(sharedMemory: sharedMemory))
        for c in comms { c.hosts = .blocks(size: size, ranksPerHost: shape.perHost) }
        let counts = [1, size - 1, size, size + 1, 1000, 70_001]
        let results = runRanks(comms) { c -> [[Float]] in
            try counts.flatMap { count -> [[Float]] in
                var hierarchical = testInput(rank: c.rank, count: count)
                try c.allReduce(&hierarchical, algorithm: .hierarchical)
                var flat = testInput(rank: c.rank, count: count)
                try c.allReduce(&flat, algorithm: .ring)
                return [hierarchical, flat]
            }
        }
        for (rank, result) in results.enumerated() {
            let got = try result.get()
            for (i, count) in counts.enumerated() {
                #expect(got[2 * i] == expectedSum(size: size, count: count), "rank \(rank) count \(count): hierarchical sum")
                #expect(got[2 * i] == got[2 * i + 1], "rank \(rank) count \(count): hierarchical differs from the ring")
            }
        }
    }

    /// Inexact values (an average, bf16 on the wire): every rank still ends with rank 0's bits.
    @Test(arguments: [WirePrecision.float32, .bfloat16])
    func inexactResultsAreBitwiseIdenticalOnEveryRank(wire: WirePrecision) throws {
        let comms = try Communicator.local(size: 6, options: ThreadCollectivesTests.fastOptions())
        for c in comms { c.hosts = .blocks(size: 6, ranksPerHost: 3) }
        let results = runRanks(comms) { c -> [Float] in
            var v = (0..<50_001).map { Float(($0 * 31 + c.rank * 17) % 101) * 0.37 }
            try c.allReduce(&v, op: .average, wire: wire, algorithm: .hierarchical)
            return v
        }
        let first = try results[0].get()
        let exact: [Double] = (0..<50_001).map { i in
            var sum = 0.0
            for r in 0..<6 { sum += Double(Float((i * 31 + r * 17) % 101) * 0.37) }
            return sum / 6
        }
        let worst = zip(first, exact).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst < (wire == .float32 ? 1e-6 : 2e-2), "relative error \(worst)")
        for r in 1..<6 { #expect(try results[r].get() == first, "rank \(r) differs from rank 0") }
    }

    /// The bytes that leave each host (counted by the transport where frames leave): at most 2(H−1)/H of the buffer
    /// for the hierarchical all-reduce, against more for the flat ring, whose host-crossing ranks send 2(N−1)/N.
    @Test(arguments: [(2, 2), (3, 2), (2, 3)])
    func eachHostSendsAtMostTwoHMinusOneOverHOfTheBuffer(shape: (hosts: Int, perHost: Int)) throws {
        let (hosts, size) = (shape.hosts, shape.hosts * shape.perHost)
        let count = 1 << 18
        func hostBytes(_ algorithm: AllReduceAlgorithm) throws -> [Double] {
            let comms = try Communicator.local(size: size, options: ThreadCollectivesTests.fastOptions(sharedMemory: false))
            let layout = HostLayout.blocks(size: size, ranksPerHost: shape.perHost)
            for c in comms { c.hosts = layout }
            for r in runRanks(
                comms,
                { c in
                    var v = testInput(rank: c.rank, count: count)
                    try c.allReduce(&v, algorithm: algorithm)
                })
            { try r.get() }
            var out = [Double](repeating: 0, count: hosts)
            for c in comms {
                let mine = layout.hostOfRank[c.rank]
                for link in c.plane.traffic.links where layout.hostOfRank[link.peer] != mine {
                    out[mine] += Double(link.bytes)
                }
            }
            return out
        }
        let bufferBytes = Double(count * 4)
        let bound = 2 * Double(hosts - 1) / Double(hosts) * bufferBytes
        let hierarchical = try hostBytes(.hierarchical)
        let flat = try hostBytes(.ring)
        for h in 0..<hosts {
            // Headers (32 bytes a chunk) are the only excess allowed: well under 1%.
            #expect(hierarchical[h] <= bound * 1.01, "host \(h): \(hierarchical[h]) bytes > \(bound)")
            #expect(hierarchical[h] >= bound * 0.99, "host \(h): \(hierarchical[h]) bytes, expected about \(bound)")
            #expect(flat[h] > hierarchical[h], "host \(h): flat ring \(flat[h]) vs hierarchical \(hierarchical[h])")
        }
    }

    @Test func automaticChoosesItOnlyForSeveralRanksOnEachOfSeveralHosts() {
        #expect(HostLayout.blocks(size: 4, ranksPerHost: 2).isHierarchical)
        #expect(!HostLayout.blocks(size: 4, ranksPerHost: 1).isHierarchical)  // one rank per host: the flat ring
        #expect(!HostLayout.blocks(size: 4, ranksPerHost: 4).isHierarchical)  // one host
        #expect(!HostLayout(hostOfRank: [0, 0, 1, 1, 1]).isHierarchical)  // unequal hosts
        let table = ["tcp://10.0.0.1:5000", "tcp://10.0.0.2:5000", "tcp://10.0.0.1:5001", "tcp://10.0.0.2:5001"]
        #expect(HostLayout(endpoints: table).hostOfRank == [0, 1, 0, 1])
        #expect(HostLayout(endpoints: ["inproc://a", "inproc://b"]).hostCount == 1)
        #expect(HostLayout(endpoints: ["tcp://[::1]:1", "tcp://[::1]:2", "tcp://[::2]:1"]).hostOfRank == [0, 0, 1])
    }

    @Test func withoutSeveralRanksPerHostItIsRefusedWithAReason() throws {
        let comms = try Communicator.local(size: 2, options: ThreadCollectivesTests.fastOptions())
        let results = runRanks(comms) { c -> Void in
            var v: [Float] = [1, 2, 3]
            try c.allReduce(&v, algorithm: .hierarchical)
        }
        for r in results {
            #expect(throws: CollectiveError.self) { try r.get() }
        }
    }

    @Test(arguments: [(2, 2), (3, 3)])
    func rankProcessesPassEveryCollectiveCheck(shape: (hosts: Int, perHost: Int)) throws {
        let ranks = shape.hosts * shape.perHost
        let (results, _) = try runRankProcesses(
            mode: "check", ranks: ranks, extra: ["--timeout", "30", "--ranks-per-host", "\(shape.perHost)"], timeout: 120)
        for (r, res) in results.enumerated() {
            #expect(res.status == 0, "rank \(r) of \(ranks): status \(String(describing: res.status)): \(res.output)")
        }
        #expect(results[0].output.contains("\"check\":\"ok\""))
    }
}
