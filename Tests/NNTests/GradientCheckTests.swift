import Foundation
import NN
import Tensors
import Testing

@Suite struct GradientCheckTests {
    let tolerance = 5e-3

    @Test func dense() {
        let model = Sequential([Dense(7, 5)], inputFeatures: 7)
        var probe = Probe(seed: 2)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let e = checkModel(model, input: probe.tensor([4, 7]), seed: 3)
        #expect(e.params < tolerance && e.input < tolerance, "dense: \(e)")
    }

    @Test(arguments: ["relu", "sigmoid", "tanh", "softmax"])
    func activation(_ name: String) {
        let layer: Layer
        switch name {
        case "relu": layer = ReLU()
        case "sigmoid": layer = Sigmoid()
        case "tanh": layer = Tanh()
        default: layer = Softmax()
        }
        let model = Sequential([layer], inputFeatures: 6)
        var probe = Probe(seed: 4)
        // Keep ReLU inputs away from its kink so ±h never crosses it.
        let x = probe.tensor([5, 6], scale: 2, awayFromZero: 0.05)
        let e = checkModel(model, input: x, seed: 5)
        #expect(e.input < tolerance, "\(name): \(e)")
    }

    @Test func dropoutWithFixedMask() {
        let dropout = Dropout(0.3, seed: 9)
        let model = Sequential([dropout], inputFeatures: 8)
        var probe = Probe(seed: 6)
        let saved = dropout.rng
        // Re-seed before every forward so the numeric derivative sees the same mask as backward.
        let e = checkModel(model, input: probe.tensor([4, 8]), seed: 7, prepare: { dropout.rng = saved })
        #expect(e.input < tolerance, "dropout: \(e)")
    }

    @Test func wholeMLPWithHooksInBackwardOrder() {
        let model = Sequential(mlp: [6, 8, 5, 3], activation: .tanh)
        model.initialize(.xavierUniform, seed: 11)
        var seen: [Int] = []
        model.onLayerGradientsReady = { seen.append($0) }
        var probe = Probe(seed: 12)
        let e = checkModel(model, input: probe.tensor([5, 6]), seed: 13)
        #expect(e.params < tolerance && e.input < tolerance, "mlp: \(e)")
        #expect(Array(seen.prefix(model.layers.count)) == Array((0..<model.layers.count).reversed()))
    }

    @Test func softmaxCrossEntropyGradient() {
        var probe = Probe(seed: 21)
        let logits = probe.tensor([6, 4], scale: 3)
        let labels: [Int32] = [0, 3, 1, 2, 2, 0]
        let loss = SoftmaxCrossEntropy()
        _ = loss.forward(logits: logits, labels: labels)
        let g = loss.backward().array
        let e = worstError(variable: logits, analytic: g, indices: Array(0..<logits.count), h: 1e-2) {
            Double(loss.forward(logits: logits, labels: labels))
        }
        #expect(e < tolerance, "softmax CE: \(e)")
    }

    @Test func meanSquaredErrorGradient() {
        var probe = Probe(seed: 22)
        let prediction = probe.tensor([5, 3])
        let target = probe.tensor([5, 3])
        let loss = MeanSquaredError()
        _ = loss.forward(prediction: prediction, target: target)
        let g = loss.backward().array
        let e = worstError(variable: prediction, analytic: g, indices: Array(0..<prediction.count), h: 1e-2) {
            Double(loss.forward(prediction: prediction, target: target))
        }
        #expect(e < tolerance, "mse: \(e)")
    }

    @Test func crossEntropyOnProbabilitiesGradient() {
        var probe = Probe(seed: 23)
        let p = probe.tensor([4, 5]).map { 0.5 + 0.2 * $0 }  // positive "probabilities"
        let labels: [Int32] = [4, 0, 2, 1]
        let loss = CrossEntropy()
        _ = loss.forward(probabilities: p, labels: labels)
        let g = loss.backward().array
        let e = worstError(variable: p, analytic: g, indices: Array(0..<p.count), h: 1e-3) {
            Double(loss.forward(probabilities: p, labels: labels))
        }
        #expect(e < tolerance, "cross entropy: \(e)")
    }

    /// The fused softmax–cross-entropy must equal Softmax followed by CrossEntropy, in loss and in ∂loss/∂logits.
    @Test func fusedMatchesUnfused() {
        var probe = Probe(seed: 24)
        let logits = probe.tensor([7, 10], scale: 4)
        let labels: [Int32] = [0, 9, 3, 3, 5, 1, 7]
        let fused = SoftmaxCrossEntropy()
        let lf = fused.forward(logits: logits, labels: labels)
        let gf = fused.backward(normalizer: 7).array

        let softmax = Sequential([Softmax()], inputFeatures: 10)
        softmax.computesInputGradient = true
        let ce = CrossEntropy()
        let lu = ce.forward(probabilities: softmax.forward(logits, training: true), labels: labels)
        let gu = softmax.backward(ce.backward())!.array
        #expect(abs(lf - lu) < 1e-5 * max(1, abs(lf)))
        #expect(zip(gf, gu).allSatisfy { abs($0 - $1) < 1e-5 }, "fused \(gf.prefix(5)) vs \(gu.prefix(5))")
    }

    /// With `normalizer` = global batch, the gradients of two halves add up to the gradient of the whole batch:
    /// what data-parallel training relies on.
    @Test func normalizerMakesShardGradientsSum() {
        var probe = Probe(seed: 25)
        let logits = probe.tensor([6, 3])
        let labels: [Int32] = [0, 1, 2, 2, 1, 0]
        let whole = SoftmaxCrossEntropy()
        _ = whole.forward(logits: logits, labels: labels)
        let g = whole.backward().array
        let a = SoftmaxCrossEntropy()
        let b = SoftmaxCrossEntropy()
        _ = a.forward(logits: logits.rows(0..<2).copy(), labels: Array(labels[0..<2]))
        _ = b.forward(logits: logits.rows(2..<6).copy(), labels: Array(labels[2..<6]))
        let parts = a.backward(normalizer: 6).array + b.backward(normalizer: 6).array
        #expect(zip(g, parts).allSatisfy { abs($0 - $1) < 1e-7 })
    }
}

@Suite struct SoftmaxReferenceTests {
    /// The vectorised exp inside softmax against a Float64 reference: wide rows (not a multiple of 8 lanes), logits
    /// spread so that some terms underflow to 0, one row with −∞ entries, and the loss it feeds.
    @Test func wideRowsMatchFloat64() {
        let rows = 7
        let cols = 1003
        var state: UInt64 = 99
        var values = [Float](repeating: 0, count: rows * cols)
        for i in values.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Double(state >> 11) / Double(1 << 53)
            values[i] = Float(u * 130 - 100) * (i / cols == 3 ? 0.01 : 1)  // row 3: nearly flat
        }
        values[5 * cols + 17] = -.infinity
        values[5 * cols + 1000] = -.infinity
        let x = Tensor(shape: [rows, cols], values: values)
        let y = Softmax().forward(x, training: false).array
        var worst = 0.0
        for r in 0..<rows {
            let row = values[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let m = row.max()!
            let s = row.reduce(0) { $0 + Foundation.exp($1 - m) }
            for j in 0..<cols {
                let ref = Foundation.exp(row[j] - m) / s
                let err = abs(Double(y[r * cols + j]) - ref)
                // 1e-5 relative (the float sum of 1003 terms), plus the smallest normal float absolute (terms below it are 0).
                worst = max(worst, err / (1e-5 * ref + 2 * Double(Float.leastNormalMagnitude)))
            }
        }
        #expect(worst < 1, "softmax vs Float64: worst error \(worst) of the allowed")
        let labels = (0..<rows).map { Int32($0 * 131 % cols) }
        let loss = SoftmaxCrossEntropy().forward(logits: x, labels: labels)
        var ref = 0.0
        for r in 0..<rows {
            let row = values[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let m = row.max()!
            let lse = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
            // The loss floors p at the smallest normal float, as its −log would otherwise be unbounded.
            ref += min(lse - row[Int(labels[r])], -Foundation.log(Double(Float.leastNormalMagnitude))) / Double(rows)
        }
        #expect(abs(Double(loss) - ref) <= 1e-5 * max(1, ref), "loss \(loss) vs \(ref)")
    }
}

@Suite struct ArgmaxTests {
    /// `correctPredictions` counts a row as right when its FIRST maximal column is the label, as a scalar scan
    /// would: ties go to the lower index, whether the maximum sits in a vector body or in the tail.
    @Test func firstMaximumWins() {
        let cols = 21
        var values = [Float](repeating: -1, count: 4 * cols)
        values[0 * cols + 3] = 2
        values[0 * cols + 17] = 2  // tie: column 3
        values[1 * cols + 20] = 5  // in the tail (past 16 lanes)
        values[2 * cols + 9] = 0.5
        values[2 * cols + 8] = 0.25
        for j in 0..<cols { values[3 * cols + j] = 7 }  // all equal: column 0
        let x = Tensor(shape: [4, cols], values: values)
        let right: [Int32] = [3, 20, 9, 0]
        let wrong: [Int32] = [17, 19, 8, 1]
        #expect(right.withUnsafeBufferPointer { correctPredictions(x, labels: $0) } == 4)
        #expect(wrong.withUnsafeBufferPointer { correctPredictions(x, labels: $0) } == 0)
    }
}
