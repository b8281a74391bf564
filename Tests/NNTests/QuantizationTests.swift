import NN
import Tensors
import Testing

@Suite struct QuantizationTests {
    private func randomKernel(_ rows: Int, _ cols: Int, seed: UInt64) -> Tensor {
        var rng = Xoshiro256(seed: seed)
        let t = Tensor(shape: [rows, cols])
        for i in 0..<t.count { t.pointer[i] = (rng.nextUnitFloat() - 0.5) * Float(1 + i % cols) }
        return t
    }

    /// quantize → dequantize is within half a step (s[j]/2) of every weight, and the largest |w| of each
    /// channel maps to ±127 exactly.
    @Test func weightRoundTripWithinOneStep() {
        let k = randomKernel(37, 11, seed: 1)
        k.pointer[5] = 0  // column 5 of row 0 …
        for i in 0..<37 { k.pointer[i * 11 + 5] = 0 }  // … and the whole channel: scale 1, values 0
        let q = ChannelQuantizedWeights(kernel: k)
        let back = q.dequantized()
        for i in 0..<37 {
            for j in 0..<11 {
                let w = k.pointer[i * 11 + j]
                #expect(abs(back[i * 11 + j] - w) <= q.scales[j] / 2 * 1.0001, "w[\(i), \(j)] = \(w)")
            }
        }
        for j in 0..<11 where j != 5 {
            #expect((0..<37).contains { abs(q.values[$0 * 11 + j]) == 127 }, "channel \(j) does not reach 127")
        }
        #expect(q.scales[5] == 1 && (0..<37).allSatisfy { q.values[$0 * 11 + 5] == 0 })
    }

    /// The layer's output equals the int8 reference product of its quantized input and weights, bit for bit,
    /// and stays near the fp32 layer's (within the rounding of both operands).
    @Test func quantizedDenseEqualsIntegerReference() {
        let (batch, n, m) = (9, 45, 19)
        let dense = Dense(n, m)
        let model = Sequential([dense], inputFeatures: n)
        model.initialize(.heNormal, seed: 3)
        for j in 0..<m { dense.bias.pointer[j] = Float(j) * 0.01 }
        let x = randomKernel(batch, n, seed: 9)
        let inputScale = (0..<x.count).map { abs(x.pointer[$0]) }.max()! / 127
        let q = QuantizedDense(
            weights: ChannelQuantizedWeights(kernel: dense.kernel), bias: dense.bias.array, inputScale: inputScale)
        let y = q.forward(x, training: false).array
        let qx = (0..<(batch * n)).map { referenceQuantizeInt8(x.pointer[$0], inverseScale: 1 / inputScale) }
        let colScale = q.weights.scales.map { inputScale * $0 }
        var want = [Float](repeating: 0, count: batch * m)
        let bias = dense.bias.array
        qx.withUnsafeBufferPointer { a in
            q.weights.values.withUnsafeBufferPointer { b in
                colScale.withUnsafeBufferPointer { s in
                    bias.withUnsafeBufferPointer { bi in
                        want.withUnsafeMutableBufferPointer { c in
                            referenceInt8Gemm(
                                m: batch, n: m, k: n, a: a.baseAddress!, lda: n, b: b.baseAddress!, ldb: m,
                                output: .float32(
                                    c.baseAddress!, ldc: m, Int8Requantization(scale: s.baseAddress!, bias: bi.baseAddress!)))
                        }
                    }
                }
            }
        }
        #expect(y.map(\.bitPattern) == want.map(\.bitPattern))
        let fp32 = dense.forward(x, training: false).array
        let worst = zip(y, fp32).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 0.02 * (fp32.map(abs).max() ?? 1), "int8 vs fp32: \(worst)")
    }

    /// Post-training quantization: no calibration batch and a percentile outside (0, 100] are refused with one line;
    /// a Dense followed by ReLU becomes one layer with the ReLU fused; the result tracks the fp32 model.
    @Test func postTrainingQuantization() throws {
        let model = Sequential(mlp: [20, 16, 8, 4])
        model.initialize(.heNormal, seed: 4)
        let batches = (0..<3).map { randomKernel(32, 20, seed: UInt64(10 + $0)) }
        #expect(throws: QuantizationError.self) { try PostTrainingQuantization.quantize(model, calibration: []) }
        do {
            _ = try PostTrainingQuantization.quantize(model, calibration: [])
        } catch {
            #expect("\(error)" == "calibration needs at least 1 batch, got 0")
        }
        #expect(throws: QuantizationError.self) {
            try PostTrainingQuantization.quantize(model, calibration: batches, method: .percentile(0))
        }
        for method in [CalibrationMethod.minMax, .percentile(99.9)] {
            let q = try PostTrainingQuantization.quantize(model, calibration: batches, method: method)
            #expect(q.layers.map(\.kind) == ["qdense", "qdense", "qdense"])
            #expect((q.layers[0] as? QuantizedDense)?.fusedReLU == true && (q.layers[2] as? QuantizedDense)?.fusedReLU == false)
            let x = batches[0]
            let want = model.forward(x, training: false).array
            let got = q.forward(x, training: false).array
            let range = want.map(abs).max() ?? 1
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 0.05 * range, "\(method): \(worst) of \(range)")
        }
    }

    /// The min/max observer's scale is the largest |x| / 127; a percentile's is no larger.
    @Test func observerScales() {
        var o = ActivationObserver()
        o.observe(Tensor(shape: [1, 4], values: [-254, 1, 2, 3]))
        #expect(o.scale(.minMax) == 2)
        #expect(o.scale(.percentile(50)) == Float(2) / 127)
    }
}
