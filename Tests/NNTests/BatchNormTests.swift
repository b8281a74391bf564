import Foundation
import NN
import Tensors
import Testing

/// Per-channel statistics in Double of x [B, C·H·W] over the batch and positions: (mean, biased variance) per c.
func naiveChannelStatistics(_ x: Tensor, _ s: FeatureShape) -> [(mean: Double, variance: Double)] {
    (0..<s.channels).map { c in
        var values: [Double] = []
        for b in 0..<x.rows {
            for p in 0..<s.positions { values.append(Double(x[b * s.count + c * s.positions + p])) }
        }
        let mean = values.reduce(0, +) / Double(values.count)
        return (mean, values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count))
    }
}

/// y = γ_c·(x − mean_c)/√(var_c + eps) + β_c in Double.
func naiveNormalize(
    _ x: Tensor, _ s: FeatureShape, statistics: [(mean: Double, variance: Double)], gain: [Float], bias: [Float]
) -> [Float] {
    (0..<x.count).map { i in
        let c = (i % s.count) / s.positions
        let (mean, variance) = statistics[c]
        return Float(Double(gain[c]) * (Double(x[i]) - mean) / (variance + 1e-5).squareRoot() + Double(bias[c]))
    }
}

@Suite struct BatchNormTests {
    let tolerance = 5e-3
    static let shapes = [FeatureShape(channels: 3, height: 4, width: 5), FeatureShape(flat: 6)]

    /// Training normalises with the batch's statistics and moves the running ones by momentum (unbiased variance);
    /// evaluation normalises with the running statistics.
    @Test(arguments: shapes)
    func trainingUsesBatchStatisticsAndEvaluationTheRunningOnes(_ shape: FeatureShape) {
        let norm = BatchNorm(shape: shape, momentum: 0.25)
        let model = Sequential([norm], inputFeatures: shape.count)
        model.initialize(.heNormal, seed: 1)
        #expect(norm.runningMean.array.allSatisfy { $0 == 0 } && norm.runningVar.array.allSatisfy { $0 == 1 })
        #expect(
            model.buffers.count == 2 * shape.channels && model.namedBuffers.map(\.name) == ["0.running_mean", "0.running_var"])
        var probe = Probe(seed: 60)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let x = probe.tensor([4, shape.count], scale: 3)
        for i in 0..<x.count { x[i] += 2 }  // a mean away from 0 so the running mean visibly moves
        let stats = naiveChannelStatistics(x, shape)
        let y = model.forward(x, training: true).array
        let reference = naiveNormalize(x, shape, statistics: stats, gain: norm.gain.array, bias: norm.bias.array)
        #expect(zip(y, reference).map { abs($0 - $1) }.max()! < 1e-4)
        let n = Double(4 * shape.positions)
        for c in 0..<shape.channels {
            #expect(abs(Double(norm.runningMean[c]) - 0.25 * stats[c].mean) < 1e-5)
            #expect(abs(Double(norm.runningVar[c]) - (0.75 + 0.25 * stats[c].variance * n / (n - 1))) < 1e-5)
        }
        let running = (0..<shape.channels).map { (Double(norm.runningMean[$0]), Double(norm.runningVar[$0])) }
        let x2 = probe.tensor([2, shape.count])
        let before = model.buffers.array
        let evaluated = model.forward(x2, training: false).array
        let expected = naiveNormalize(x2, shape, statistics: running, gain: norm.gain.array, bias: norm.bias.array)
        #expect(zip(evaluated, expected).map { abs($0 - $1) }.max()! < 1e-4)
        #expect(model.buffers.array == before, "evaluation must not move the running statistics")
    }

    @Test(arguments: shapes)
    func trainingModeGradients(_ shape: FeatureShape) {
        // A layer in front so the input gradient is also checked as it flows back into a model.
        let front: Layer =
            shape.height == 1
            ? Dense(5, shape.count) : Conv2D(input: FeatureShape(channels: 2, height: 6, width: 7), outChannels: 3, kernel: 3)
        let model = Sequential([front, BatchNorm(shape: shape)], inputFeatures: shape.height == 1 ? 5 : 84)
        var probe = Probe(seed: 61)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let e = checkModel(model, input: probe.tensor([3, model.inputFeatures]), seed: 62, h: 1e-2, samples: 80)
        #expect(e.params < tolerance && e.input < tolerance, "\(shape): \(e)")
    }

    /// In evaluation the statistics are constants: dx = dy·γ_c/√(running_var_c + eps), against central differences.
    @Test func evaluationModeInputGradient() {
        let shape = FeatureShape(channels: 2, height: 2, width: 3)
        let norm = BatchNorm(shape: shape)
        let model = Sequential([norm], inputFeatures: shape.count)
        var probe = Probe(seed: 63)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        model.buffers.assign(Tensor(shape: [4], values: [0.3, -0.2, 1.5, 0.7]))
        model.computesInputGradient = true
        let x = probe.tensor([2, shape.count])
        let r = probe.tensor([2, shape.count])
        _ = model.forward(x, training: false)
        let dx = model.backward(r.copy())!.array
        let f = { objective(model.forward(x, training: false), r) }
        let e = worstError(variable: x, analytic: dx, indices: Array(0..<x.count), h: 1e-2, f: f)
        #expect(e < tolerance, "\(e)")
    }

    /// A model's buffers travel with its exported weights (PyTorch's state_dict names) and come back on load.
    @Test func runningStatisticsThroughSafeTensors() throws {
        let path = "/tmp/cohort-bn-\(UInt32.random(in: 0...UInt32.max)).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let shape = FeatureShape(channels: 2, height: 3, width: 3)
        let model = Sequential([BatchNorm(shape: shape), Flatten(), Dense(18, 4)], inputFeatures: 18)
        model.initialize(.heNormal, seed: 2)
        var probe = Probe(seed: 64)
        _ = model.forward(probe.tensor([5, 18], scale: 4), training: true)
        try model.saveSafeTensors(to: path)
        let copy = Sequential([BatchNorm(shape: shape), Flatten(), Dense(18, 4)], inputFeatures: 18)
        copy.initialize(.heNormal, seed: 9)
        try copy.loadSafeTensors(from: path)
        #expect(copy.buffers.array == model.buffers.array && copy.parameters.array == model.parameters.array)
        #expect(model.buffers.array != [0, 0, 1, 1])
    }
}
