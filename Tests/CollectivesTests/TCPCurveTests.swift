import CohortTestSupport
import Collectives
import Testing
import Transport

/// Communicators built the way the runtime builds them: each rank binds tcp port 0, the bound endpoints form
/// the peer table, then the communicator is created from it. With CURVE on, traffic is encrypted and only
/// holders of the cluster key get frames into an inbox.
@Suite(.timeLimit(.minutes(3)))
struct TCPCurveTests {
    static func group(size: Int, curve: CurveSecurity?) throws -> [Communicator] {
        var o = CommunicatorOptions()
        o.timeout = 10
        o.curve = curve
        o.sharedMemory = false  // the point is the sockets (and CURVE on them), not the same-host shortcut
        let planes = try (0..<size).map { _ in try DataPlane(bind: "tcp://127.0.0.1:0", options: o) }
        let table = planes.map(\.endpoint)
        return try planes.enumerated().map { try Communicator(plane: $1, rank: $0, peers: table) }
    }

    @Test(arguments: [false, true])
    func allReduceOverTCPFromAPeerTable(curve: Bool) throws {
        let security = curve ? CurveSecurity(cluster: try CurveKeyPair.generate()) : nil
        let comms = try Self.group(size: 3, curve: security)
        let results = runRanks(comms, timeout: 30) { c -> [Float] in
            var v = testInput(rank: c.rank, count: 300_001)
            try c.allReduce(&v)
            return v
        }
        let expected = expectedSum(size: 3, count: 300_001)
        for r in results { #expect(try r.get() == expected) }
    }

    @Test func aPeerWithoutTheClusterKeyCannotInjectFrames() throws {
        let cluster = CurveSecurity(cluster: try CurveKeyPair.generate())
        var o = CommunicatorOptions()
        o.timeout = 0.5
        o.curve = cluster
        let member = try DataPlane(bind: "tcp://127.0.0.1:0", options: o)
        var intruderOptions = CommunicatorOptions()
        intruderOptions.curve = CurveSecurity(cluster: try CurveKeyPair.generate())  // a different cluster key
        let intruder = try DataPlane(bind: "tcp://127.0.0.1:0", options: intruderOptions)
        let table = [member.endpoint, intruder.endpoint]
        let c0 = try Communicator(plane: member, rank: 0, peers: table)
        let c1 = try Communicator(plane: intruder, rank: 1, peers: table)
        let sent = [Float](repeating: 1, count: 4)
        try sent.withUnsafeBufferPointer { try c1.send($0, to: 0) }  // queued; the handshake fails, nothing arrives
        var got = [Float](repeating: 0, count: 4)
        #expect {
            try got.withUnsafeMutableBufferPointer { try c0.receive(into: $0, from: 1) }
        } throws: { e in
            (e as? CollectiveError)?.peer == 1 && "\(e)".contains("did not answer")
        }
    }
}
