import NN
import Tensors
import Testing

/// Quantization-aware training's Dense: the fake-quantized forward is the int8 model's arithmetic in fp32, and the
/// straight-through estimator's gradients match a naive Float64 reference (zero where the input was clipped).
@Suite(.timeLimit(.minutes(3)))
struct FakeQuantizationTests {
    private func random(_ rows: Int, _ cols: Int, seed: UInt64, spread: Float = 1) -> Tensor {
        var rng = Xoshiro256(seed: seed)
        let t = Tensor(shape: [rows, cols])
        for i in 0..<t.count { t.pointer[i] = (rng.nextUnitFloat() - 0.5) * spread * Float(1 + i % 3) }
        return t
    }

    /// A Dense(n, m) with a fake quantizer whose observer has seen max|x| = `maxAbs`.
    private func quantizedDense(_ n: Int, _ m: Int, maxAbs: Float) -> (Dense, DenseFakeQuantizer) {
        let dense = Dense(n, m)
        let model = Sequential([dense], inputFeatures: n)
        model.initialize(.heNormal, seed: 5)
        for j in 0..<m { dense.bias.pointer[j] = Float(j) * 0.02 - 0.1 }
        let q = DenseFakeQuantizer()
        q.commit(maxAbs: maxAbs)
        dense.fakeQuantizer = q
        return (dense, q)
    }

    /// fq(K) is exactly `ChannelQuantizedWeights`' quantize → dequantize, fq(x) exactly s·clamp(round(x/s)), and
    /// the fake-quantized layer's output equals the int8 `QuantizedDense` (int8 GEMM) with the same scales, up to
    /// fp32 summation order.
    @Test func forwardEqualsQuantizeThenDequantize() {
        let (batch, n, m) = (7, 33, 13)
        let x = random(batch, n, seed: 2, spread: 4)
        let maxAbs: Float = 3  // below max|x| (≈ 6): some inputs clip
        let (dense, q) = quantizedDense(n, m, maxAbs: maxAbs)
        let s = q.inputScale ?? 0
        #expect(s == maxAbs / 127)
        let y = dense.forward(x, training: false).array

        let weights = ChannelQuantizedWeights(kernel: dense.kernel)
        let dequantized = weights.dequantized()
        let (a, k) = (dense.fakeQuantizer?.operands(input: x, kernel: dense.kernel, training: false))!
        #expect(k.array == dequantized, "fq(K) must equal ChannelQuantizedWeights' dequantized kernel")
        let wantX = (0..<x.count).map { Float(quantizeSymmetric(x.pointer[$0], inverseScale: 1 / s)) * s }
        #expect(a.array == wantX, "fq(x) must equal s·clamp(round(x/s), ±127)")
        #expect(wantX.contains { abs($0) == 127 * s }, "the test needs clipped inputs")

        let int8 = QuantizedDense(weights: weights, bias: dense.bias.array, inputScale: s).forward(x, training: false).array
        var reference = [Double](repeating: 0, count: batch * m)
        for b in 0..<batch {
            for j in 0..<m {
                var acc = Double(dense.bias.pointer[j])
                for i in 0..<n { acc += Double(wantX[b * n + i]) * Double(dequantized[i * m + j]) }
                reference[b * m + j] = acc
            }
        }
        for i in 0..<(batch * m) {
            #expect(abs(Double(y[i]) - reference[i]) <= 1e-4 * max(1, abs(reference[i])), "fake-quant y[\(i)]")
            #expect(abs(Double(int8[i]) - reference[i]) <= 1e-4 * max(1, abs(reference[i])), "int8 y[\(i)]")
        }
    }

    /// Backward under fake quantization, against a naive Float64 reference of the straight-through estimator:
    /// ∂K = fq(x)ᵀ·dy, db = Σ dy, ∂x = dy·fq(K)ᵀ where |x/s| ≤ 127 and exactly 0 where x was clipped.
    @Test func straightThroughGradientsMatchNaiveReference() {
        let (batch, n, m) = (6, 29, 11)
        let x = random(batch, n, seed: 4, spread: 4)
        let (dense, q) = quantizedDense(n, m, maxAbs: 2.5)
        let s = q.inputScale ?? 0
        let dy = random(batch, m, seed: 8)
        _ = dense.forward(x, training: true)
        let dx = dense.backward(dy, accumulate: false, needInputGradient: true)?.array ?? []
        let dK = dense.kernelGradient.array
        let fqK = ChannelQuantizedWeights(kernel: dense.kernel).dequantized()
        let fqX = (0..<x.count).map { Float(quantizeSymmetric(x.pointer[$0], inverseScale: 1 / s)) * s }
        var inside = 0
        var outside = 0
        for b in 0..<batch {
            for i in 0..<n {
                let passes = abs(Double(x.pointer[b * n + i]) / Double(s)) <= 127
                var want = 0.0
                if passes { for j in 0..<m { want += Double(dy.pointer[b * m + j]) * Double(fqK[i * m + j]) } }
                let got = Double(dx[b * n + i])
                if passes {
                    inside += 1
                    #expect(abs(got - want) <= 1e-5 * max(1, abs(want)), "dx[\(b), \(i)] inside the range")
                } else {
                    outside += 1
                    #expect(got == 0, "dx[\(b), \(i)] of a clipped input must be 0, got \(got)")
                }
            }
        }
        #expect(inside > 20 && outside > 5, "the test needs both regions (inside \(inside), outside \(outside))")
        for i in 0..<n {
            for j in 0..<m {
                var want = 0.0
                for b in 0..<batch { want += Double(fqX[b * n + i]) * Double(dy.pointer[b * m + j]) }
                #expect(abs(Double(dK[i * m + j]) - want) <= 1e-5 * max(1, abs(want)), "dK[\(i), \(j)]")
            }
        }
    }

    /// The observer: a training forward only records max|x|; the first commit sets the average, later ones move it
    /// by `momentum`; evaluation forwards record nothing; before any commit the input is not quantized.
    @Test func observerRecordsAndAverages() {
        let dense = Dense(4, 3)
        _ = Sequential([dense], inputFeatures: 4)
        let q = DenseFakeQuantizer(momentum: 0.25)
        dense.fakeQuantizer = q
        let x = Tensor(shape: [2, 4], values: [0.5, -3, 1, 0.25, 2, 0, -1, 0.1])
        _ = dense.forward(x, training: false)
        #expect(q.pendingMaxAbs == nil && q.inputScale == nil)
        let (a, _) = (q.operands(input: x, kernel: dense.kernel, training: true))
        #expect(a.array == x.array, "no scale yet: the input passes unquantized")
        #expect(q.pendingMaxAbs == 3)
        q.commit(maxAbs: 3)
        #expect(q.observedMaxAbs == 3 && q.pendingMaxAbs == nil && q.inputScale == 3 / 127)
        q.commit(maxAbs: 7)
        #expect(q.observedMaxAbs == 4)
    }
}
