import NN
import Tensors
import Testing

/// Layer normalisation in Double: y = γ·(x − μ)/√(σ² + eps) + β per row.
func naiveLayerNorm(_ x: Tensor, gain: [Float], bias: [Float], eps: Double) -> [Float] {
    let f = x.columns
    var y: [Float] = []
    for b in 0..<x.rows {
        let row = (0..<f).map { Double(x[b * f + $0]) }
        let mean = row.reduce(0, +) / Double(f)
        let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(f)
        for j in 0..<f { y.append(Float(Double(gain[j]) * (row[j] - mean) / (variance + eps).squareRoot() + Double(bias[j]))) }
    }
    return y
}

@Suite struct NormLayerTests {
    let tolerance = 5e-3

    @Test func layerNormMatchesReferenceAndStartsAsPlainNormalisation() {
        let norm = LayerNorm(features: 7)
        let model = Sequential([norm], inputFeatures: 7)
        model.initialize(.heNormal, seed: 1)
        #expect(norm.gain.array == [Float](repeating: 1, count: 7) && norm.bias.array == [Float](repeating: 0, count: 7))
        var probe = Probe(seed: 50)
        model.parameters.assign(probe.tensor([14]))
        let x = probe.tensor([5, 7], scale: 4)
        let y = model.forward(x, training: false).array
        let reference = naiveLayerNorm(x, gain: norm.gain.array, bias: norm.bias.array, eps: 1e-5)
        let worst = zip(y, reference).map { abs($0 - $1) }.max() ?? 1
        #expect(worst < 1e-4, "worst \(worst)")
        #expect(norm.namedParameters.map(\.name) == ["weight", "bias"])
    }

    @Test(arguments: [(1, 6), (4, 9), (3, 2 * 3 * 3)])
    func layerNormGradients(batch: Int, features: Int) {
        // A Dense in front so the layer's input gradient is checked inside a model as well as on its own.
        let model = Sequential([Dense(5, features), LayerNorm(features: features)], inputFeatures: 5)
        var probe = Probe(seed: 51)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let e = checkModel(model, input: probe.tensor([batch, 5]), seed: 52, h: 1e-2, samples: 80)
        #expect(e.params < tolerance && e.input < tolerance, "\(batch)×\(features): \(e)")
    }

    @Test func layerNormAccumulatesAndRejectsOtherWidths() {
        let model = Sequential([LayerNorm(features: 4)], inputFeatures: 4)
        var probe = Probe(seed: 53)
        model.parameters.assign(probe.tensor([8]))
        let x = probe.tensor([3, 4])
        let dy = probe.tensor([3, 4])
        _ = model.forward(x, training: true)
        model.backward(dy.copy())
        let once = model.gradients.array
        model.accumulatesGradients = true
        _ = model.forward(x, training: true)
        model.backward(dy.copy())
        #expect(zip(once, model.gradients.array).allSatisfy { abs(2 * $0 - $1) <= 1e-5 * max(1, abs($1)) })
        #expect(LayerNorm(features: 4).outputFeatures(forInput: 5) == nil)
    }
}
