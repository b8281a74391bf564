import NN
import Tensors
import Testing

@Suite struct InitializerTests {
    /// Sample mean and variance of 200k draws within a few standard errors of the formula.
    @Test(arguments: ["uniform", "normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal"])
    func momentsMatchFormula(_ name: String) throws {
        let initializer = try #require(Initializer(name: name))
        let fanIn = 400
        let fanOut = 500
        let t = Tensor(shape: [fanOut, fanIn])
        var rng = Xoshiro256(seed: 42)
        initializer.fill(t, fanIn: fanIn, fanOut: fanOut, rng: &rng)
        let (mean, variance) = initializer.moments(fanIn: fanIn, fanOut: fanOut)
        let n = Double(t.count)
        var s = 0.0
        var s2 = 0.0
        for v in t.array {
            s += Double(v)
            s2 += Double(v) * Double(v)
        }
        let m = s / n
        let v = s2 / n - m * m
        #expect(abs(m - mean) < 5 * (variance / n).squareRoot(), "\(name) mean \(m)")
        #expect(abs(v / variance - 1) < 0.02, "\(name) variance \(v) vs \(variance)")
    }

    @Test func seededAndReproducible() {
        let a = Sequential(mlp: [10, 8, 3])
        let b = Sequential(mlp: [10, 8, 3])
        let c = Sequential(mlp: [10, 8, 3])
        a.initialize(.heNormal, seed: 7)
        b.initialize(.heNormal, seed: 7)
        c.initialize(.heNormal, seed: 8)
        #expect(a.parameters.array == b.parameters.array)
        #expect(a.parameters.array != c.parameters.array)
    }

    @Test func generatorStateResumes() {
        var a = Xoshiro256(seed: 3)
        _ = a.next()
        var b = Xoshiro256(state: a.state)
        #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
    }
}

@Suite struct LayerTests {
    @Test func dropoutScalesInTrainingAndIsIdentityInEvaluation() {
        let d = Dropout(0.25, seed: 1)
        let x = Tensor(shape: [100, 100], repeating: 1)
        let y = d.forward(x, training: true)
        let kept = y.array.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        let fraction = Double(kept.count) / Double(x.count)
        #expect(abs(fraction - 0.75) < 0.02)
        #expect(abs(Double(y.sum()) / Double(x.count) - 1) < 0.03)  // expectation preserved
        let e = d.forward(x, training: false)
        #expect(e.array == x.array)
    }

    @Test func flatBuffersAreLayerByLayerViews() {
        let model = Sequential(mlp: [4, 3, 2])  // Dense(4,3), ReLU, Dense(3,2)
        #expect(model.parameterCount == 4 * 3 + 3 + 3 * 2 + 2)
        #expect(model.layerRanges == [0..<15, 15..<15, 15..<23])
        let dense = model.layers[2] as! Dense
        model.parameters[15] = 7
        #expect(dense.kernel[0, 0] == 7)
        dense.bias[1] = 5
        #expect(model.parameters[22] == 5)
        #expect(model.namedParameters.map(\.name) == ["0.kernel", "0.bias", "2.kernel", "2.bias"])
    }

    /// Two stages run one after the other give the whole model's output and gradients, in the whole model's
    /// buffers: a pipeline stage is a slice.
    @Test func stagesShareTheFlatBuffers() {
        let model = Sequential(mlp: [5, 6, 4, 3], activation: .tanh)
        model.initialize(.xavierNormal, seed: 5)
        var probe = Probe(seed: 1)
        let x = probe.tensor([3, 5])
        let dy = probe.tensor([3, 3])
        let y = model.forward(x, training: true).copy()
        model.backward(dy.copy())
        let whole = model.gradients.array
        model.zeroGradients()

        let first = model.stage(0..<2)
        let second = model.stage(2..<5)
        #expect(first.parameterCount + second.parameterCount == model.parameterCount)
        #expect(second.parameters.offset == first.parameterCount)
        #expect(second.inputFeatures == 6 && second.outputFeatures == 3)
        second.computesInputGradient = true
        let ys = second.forward(first.forward(x, training: true), training: true)
        #expect(ys.maxAbsDifference(y) == 0)
        first.backward(second.backward(dy.copy())!)
        #expect(model.gradients.array == whole)
    }

    @Test func gradientAccumulationAddsMicroBatches() {
        let model = Sequential(mlp: [4, 5, 2])
        model.initialize(.heUniform, seed: 2)
        var probe = Probe(seed: 3)
        let x = probe.tensor([6, 4])
        let dy = probe.tensor([6, 2])
        _ = model.forward(x, training: true)
        model.backward(dy.copy())
        let whole = model.gradients.array
        model.accumulatesGradients = true
        model.zeroGradients()
        for r in [0..<2, 2..<6] {
            _ = model.forward(x.rows(r).copy(), training: true)
            model.backward(dy.rows(r).copy())
        }
        #expect(zip(model.gradients.array, whole).allSatisfy { abs($0 - $1) < 1e-5 })
    }
}

@Suite struct EarlyStoppingTests {
    @Test func stopsAfterPatienceAndRestoresBest() {
        let w = Tensor(shape: [3])
        let stopper = EarlyStopping(patience: 2)
        let losses: [Float] = [1.0, 0.8, 0.5, 0.6, 0.55, 0.7, 0.1]
        var stoppedAt: Int?
        for (epoch, loss) in losses.enumerated() {
            w.fill(Float(epoch))  // "training" changes the weights every epoch
            if stopper.record(validationLoss: loss, epoch: epoch, parameters: w) {
                stoppedAt = epoch
                break
            }
        }
        #expect(stoppedAt == 4)  // best at epoch 2, then two epochs without improvement
        #expect(stopper.bestEpoch == 2 && stopper.bestLoss == 0.5)
        #expect(stopper.restoreBest(into: w))
        #expect(w.array == [2, 2, 2])
    }
}
