import NN
import Tensors
import Testing

@Suite struct ResidualTests {
    let tolerance = 5e-3

    /// y = x + f(x), with f the same layers run on their own.
    @Test func forwardAddsTheSkipToTheBody() {
        let block = Residual([Dense(6, 4), GELU(), Dense(4, 6)], features: 6)
        let model = Sequential([block], inputFeatures: 6)
        var probe = Probe(seed: 70)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let body = Sequential([Dense(6, 4), GELU(), Dense(4, 6)], inputFeatures: 6)
        body.parameters.assign(model.parameters)
        let x = probe.tensor([3, 6])
        let f = body.forward(x, training: true).array
        let y = model.forward(x, training: true).array
        #expect(zip(y, zip(x.array, f).map { $0 + $1 }).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(model.namedParameters.map(\.name) == ["0.body.0.kernel", "0.body.0.bias", "0.body.2.kernel", "0.body.2.bias"])
        #expect(Residual.problem(body: [Dense(6, 5)], features: 6) != nil && Residual.problem(body: [], features: 6) != nil)
    }

    @Test func denseBodyGradients() {
        let model = Sequential(
            [Dense(5, 6), Residual([Dense(6, 4), GELU(), Dense(4, 6)], features: 6), Dense(6, 3)], inputFeatures: 5)
        var probe = Probe(seed: 71)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let e = checkModel(model, input: probe.tensor([4, 5]), seed: 72, h: 1e-2, samples: 100)
        #expect(e.params < tolerance && e.input < tolerance, "\(e)")
    }

    /// A ResNet-style conv body: conv (padding keeps the size) → BatchNorm → GELU → conv, with its running
    /// statistics as the block's buffers.
    @Test func convBodyWithBatchNormGradientsAndBuffers() {
        let s = FeatureShape(channels: 2, height: 5, width: 4)
        let block = Residual(
            [
                Conv2D(input: s, outChannels: 3, kernel: 3, padding: 1),
                BatchNorm(shape: FeatureShape(channels: 3, height: 5, width: 4)),
                GELU(), Conv2D(input: FeatureShape(channels: 3, height: 5, width: 4), outChannels: 2, kernel: 3, padding: 1),
            ], features: s.count)
        let model = Sequential([block], inputFeatures: s.count)
        #expect(model.buffers.count == 6 && model.namedBuffers.map(\.name) == ["0.body.1.running_mean", "0.body.1.running_var"])
        var probe = Probe(seed: 73)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let e = checkModel(model, input: probe.tensor([3, s.count]), seed: 74, h: 1e-2, samples: 100)
        #expect(e.params < tolerance && e.input < tolerance, "\(e)")
    }

    /// As a model's first layer (no input gradient wanted) the body's parameter gradients are unchanged.
    @Test func firstLayerSkipsTheInputGradientOnly() {
        let model = Sequential([Residual([Dense(4, 4)], features: 4)], inputFeatures: 4)
        var probe = Probe(seed: 75)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let x = probe.tensor([2, 4])
        let dy = probe.tensor([2, 4])
        _ = model.forward(x, training: true)
        #expect(model.backward(dy.copy()) == nil)
        let without = model.gradients.array
        model.computesInputGradient = true
        _ = model.forward(x, training: true)
        let dx = model.backward(dy.copy())
        #expect(model.gradients.array == without && dx != nil)
    }
}
