import Config
import NN
import Parallel
import Testing

/// The bytes the α–β prediction charges per method, against the ring formula written out by hand.
@Suite struct MethodWireBytesTests {
    let model: Sequential
    init() throws { model = try smallJob(steps: 1, layers: [16, 24, 5]).makeModel() }
    var p: Double { Double(model.parameters.count) }

    func bytes(_ g: GradientSpec?, _ s: SyncSpec? = nil) -> MethodWireBytes {
        MethodWireBytes(gradient: g, sync: s, model: model, bucketCounts: [model.parameters.count])
    }

    @Test(arguments: [2, 3, 8])
    func fp32Bf16AndLocalSGDFollowTheRing(workers n: Int) {
        let ring = 2 * Double(n - 1) / Double(n)
        #expect(bytes(nil).perRank(workers: n) == ring * 4 * p)
        #expect(bytes(nil).ringEquivalentBytes(workers: n) == 4 * p)
        #expect(bytes(GradientSpec(compression: .bf16)).perRank(workers: n) == ring * 2 * p)
        let local = SyncSpec(everySteps: 8)
        #expect(abs(bytes(nil, local).perRank(workers: n) - ring * 4 * p / 8) < 1e-6)
        #expect(bytes(nil).perRank(workers: 1) == 0)
    }

    @Test func powerSGDSendsItsFactorsAndTheUncompressedRest() {
        // Both matrices compress at rank 2 (16×24: 2·40 < 384; 24×5: 2·29 < 120); the biases (24 + 5) go whole.
        let g = bytes(GradientSpec(compression: .powersgd, rank: 2))
        let sent = 2.0 * (16 + 24) + 2.0 * (24 + 5) + (p - 16 * 24 - 24 * 5)
        #expect(g.perRank(workers: 2) == 4 * sent)
        #expect(g.label == "powersgd r2")
    }
}
