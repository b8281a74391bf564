import Foundation
import NN
import Tensors

/// One pass of one convolution layer (forward, weight gradient or input gradient) and the plain GEMM it reduces
/// to over the whole batch: m, n, k and transposes as in `Conv2D`'s doc comment with one chunk of the whole batch
/// (n or k = batch × positions), called once per group, on fresh buffers. The conv pass is timed whole (im2col,
/// layout passes, bias and col2im included) in the chunks the layer takes (the same work split into GEMMs of
/// n or k = chunk × positions), so the ratio of the two GFLOP/s figures is what the convolution costs beyond one
/// big GEMM.
struct ConvBenchPass {
    enum Kind: String, CaseIterable {
        case forward
        case weightGradient = "weight_gradient"
        case inputGradient = "input_gradient"
    }

    let layer: Int
    let kind: Kind
    let m: Int, n: Int, k: Int
    let transA: Bool, transB: Bool
    let groups: Int

    /// 2·m·n·k per group: the GEMM's work, credited to both sides.
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(groups) }

    /// The GEMM each pass of `conv` runs on a batch of `batch` (see `Conv2D`'s doc comment).
    static func passes(of conv: Conv2D, layer: Int, batch: Int) -> [ConvBenchPass] {
        let og = conv.output.channels / conv.groups
        let kg = conv.groupPatch
        let n = batch * conv.output.positions
        return [
            ConvBenchPass(layer: layer, kind: .forward, m: og, n: n, k: kg, transA: false, transB: false, groups: conv.groups),
            ConvBenchPass(
                layer: layer, kind: .weightGradient, m: og, n: kg, k: n, transA: false, transB: true, groups: conv.groups),
            ConvBenchPass(
                layer: layer, kind: .inputGradient, m: kg, n: n, k: og, transA: true, transB: false, groups: conv.groups),
        ]
    }

    /// The plain GEMM as a closure over its own buffers (random values, one group's operands per group).
    func gemmCall() -> () -> Void {
        let a = Tensor(shape: [groups, m * k])
        let b = Tensor(shape: [groups, k * n])
        let c = Tensor(shape: [groups, m * n])
        var rng = Xoshiro256(seed: 11)
        for t in [a, b] {
            for i in 0..<t.count { t.pointer[i] = Float.random(in: -1..<1, using: &rng) }
        }
        let (lda, ldb) = (transA ? m : k, transB ? k : n)
        let (m, n, k, groups) = (m, n, k, groups)
        let (ta, tb): (Transpose, Transpose) = (transA ? .transpose : .none, transB ? .transpose : .none)
        return {
            for g in 0..<groups {
                sgemm(
                    transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: a.pointer + g * m * k, lda: lda,
                    b: b.pointer + g * k * n, ldb: ldb, beta: 0, c: c.pointer + g * m * n, ldc: n)
            }
        }
    }
}

/// Median seconds per call of `first` and of `second`, sampled alternately (`reps` samples each, every sample an
/// inner loop of at least 30 ms, after a warm-up) so that a shared machine's load falls on both alike.
func pairedMedianSeconds(
    reps: Int, clock now: () -> Double, _ first: () -> Void, _ second: () -> Void
) -> (first: Double, second: Double) {
    func innerCount(_ call: () -> Void) -> Int {
        let w0 = now()
        var calls = 0
        while calls < 2 || now() - w0 < 0.1 {
            call()
            calls += 1
        }
        return max(1, Int(0.03 / ((now() - w0) / Double(calls))))
    }
    let (n1, n2) = (innerCount(first), innerCount(second))
    var (s1, s2) = ([Double](), [Double]())
    for _ in 0..<reps {
        var t0 = now()
        for _ in 0..<n1 { first() }
        s1.append((now() - t0) / Double(n1))
        t0 = now()
        for _ in 0..<n2 { second() }
        s2.append((now() - t0) / Double(n2))
    }
    return (s1.sorted()[reps / 2], s2.sorted()[reps / 2])
}
