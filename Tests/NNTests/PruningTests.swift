import NN
import Tensors
import Testing

@Suite struct PruningTests {
    private func model(_ widths: [Int], seed: UInt64) -> Sequential {
        let m = Sequential(mlp: widths)
        m.initialize(.heNormal, seed: seed)
        for d in m.layers.compactMap({ $0 as? Dense }) {
            for j in 0..<d.outputs { d.bias.pointer[j] = Float(j % 7) * 0.01 - 0.03 }
        }
        return m
    }

    private func input(_ rows: Int, _ cols: Int, seed: UInt64) -> Tensor {
        var rng = Xoshiro256(seed: seed)
        let t = Tensor(shape: [rows, cols])
        for i in 0..<t.count { t.pointer[i] = rng.nextUnitFloat() * 2 - 1 }
        return t
    }

    /// Exactly ⌊n·s⌋ weights become 0, and no pruned |w| exceeds a kept one: over all kernels (global) or
    /// within each (per layer). The masks mark exactly the zeros.
    @Test(arguments: [true, false])
    func magnitudePruningRemovesTheSmallest(global: Bool) throws {
        let m = model([30, 40, 20, 10], seed: 1)
        let before = m.layers.compactMap { ($0 as? Dense)?.kernel.array }
        let masks = try MagnitudePruning.prune(m, sparsity: 0.7, global: global)
        let after = m.layers.compactMap { ($0 as? Dense)?.kernel.array }
        let groups: [[(Float, Float)]] =
            global ? [Array(zip(before.joined(), after.joined()))] : zip(before, after).map { Array(zip($0, $1)) }
        for g in groups {
            let pruned = g.filter { $0.1 == 0 }.map { abs($0.0) }
            let kept = g.filter { $0.1 != 0 }.map { abs($0.0) }
            #expect(pruned.count == Int(Double(g.count) * 0.7), "\(pruned.count) of \(g.count)")
            #expect((pruned.max() ?? 0) <= (kept.min() ?? .infinity))
            #expect(g.allSatisfy { $0.1 == 0 || $0.1 == $0.0 })
        }
        for (i, mask) in masks.sorted(by: { $0.key < $1.key }) {
            let k = (m.layers[i] as! Dense).kernel.array
            #expect(zip(mask, k).allSatisfy { ($0 == 0) == ($1 == 0) })
        }
        #expect(abs(MagnitudePruning.sparsity(of: m) - 0.7) < 0.01)
    }

    @Test func sparsityOutsideUnitIntervalIsRefused() {
        let m = model([8, 6, 4], seed: 2)
        for s in [1.0, -0.1, 1.5, .nan] {
            #expect(throws: PruningError.self) { _ = try MagnitudePruning.prune(m, sparsity: s, global: true) }
            #expect(throws: PruningError.self) { _ = try StructuredPruning.shrink(m, sparsity: s) }
        }
        do { _ = try MagnitudePruning.prune(m, sparsity: 1, global: true) } catch {
            #expect("\(error)" == "sparsity 1.0 is not in [0, 1)")
        }
    }

    /// Halving the hidden layers by L2 norm: the shrunk model's outputs equal those of the full model with the
    /// pruned neurons zeroed (incoming column, bias, outgoing row), and the kept neurons are those with the largest
    /// norms. Equal to fp32 rounding, not bit for bit: the output layer (10 wide) runs on the narrow GEMM kernels,
    /// which sum k across vector lanes, so removing the zeroed terms regroups its sum.
    @Test(arguments: [Activation.relu, .tanh, .sigmoid])
    func shrunkModelEqualsZeroedModel(activation: Activation) throws {
        let full = Sequential(mlp: [50, 64, 48, 10], activation: activation)
        full.initialize(.heNormal, seed: 3)
        let r = try StructuredPruning.shrink(full, sparsity: 0.5)
        #expect(r.widths == [50, 32, 24, 10])
        let d0 = full.layers[0] as! Dense
        let norms = (0..<64).map { j in (0..<50).reduce(Float(0)) { $0 + d0.kernel[$1, j] * d0.kernel[$1, j] } }
        let minKept = r.kept[0].map { norms[$0] }.min()!
        #expect((0..<64).filter { !r.kept[0].contains($0) }.allSatisfy { norms[$0] <= minKept })
        StructuredPruning.zeroPruned(full, kept: r.kept)
        let x = input(33, 50, seed: 4)
        let want = full.forward(x, training: false).array
        let got = r.model.forward(x, training: false).array
        let worst = zip(got, want).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? .infinity
        #expect(got.count == want.count && worst <= 1e-5, "worst relative difference \(worst)")
    }
}
