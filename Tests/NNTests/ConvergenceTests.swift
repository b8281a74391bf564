import NN
import Tensors
import Testing

/// Every optimizer (with a reasonable rate for it) must fit a small 3-class problem: three Gaussian blobs in 4-D,
/// full-batch, 150 steps.
@Suite struct ConvergenceTests {
    static let rates: [String: Float] = [
        "sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.02, "adamw": 0.02,
    ]

    func blobs() -> (Tensor, [Int32]) {
        var rng = Xoshiro256(seed: 99)
        let n = 150
        let x = Tensor(shape: [n, 4])
        var labels: [Int32] = []
        for r in 0..<n {
            let c = r % 3
            labels.append(Int32(c))
            for j in 0..<4 { x[r, j] = Float(rng.nextNormal()) * 0.7 + (j == c ? 2 : 0) }
        }
        return (x, labels)
    }

    @Test(arguments: ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
    func fitsBlobs(_ name: String) throws {
        let (x, labels) = blobs()
        let model = Sequential(mlp: [4, 16, 3])
        model.initialize(.heNormal, seed: 1)
        let opt = try makeOptimizer(name: name, learningRate: Self.rates[name]!, weightDecay: 0.01)
        let loss = SoftmaxCrossEntropy()
        var first: Float = 0
        var last: Float = 0
        for step in 0..<150 {
            last = loss.forward(logits: model.forward(x, training: true), labels: labels)
            if step == 0 { first = last }
            model.backward(loss.backward())
            opt.update(parameters: model.parameters, gradients: model.gradients)
        }
        let correct = labels.withUnsafeBufferPointer { correctPredictions(model.forward(x, training: false), labels: $0) }
        #expect(last < first * 0.5, "\(name): loss \(first) → \(last)")
        #expect(Double(correct) / 150 > 0.9, "\(name): accuracy \(correct)/150")
    }

    /// MSE regression to a linear target converges too.
    @Test func mseRegression() {
        var rng = Xoshiro256(seed: 5)
        let x = Tensor(shape: [64, 3])
        let t = Tensor(shape: [64, 1])
        for r in 0..<64 {
            for j in 0..<3 { x[r, j] = Float(rng.nextNormal()) }
            t[r, 0] = 2 * x[r, 0] - x[r, 1] + 0.5 * x[r, 2] + 1
        }
        let model = Sequential([Dense(3, 1)], inputFeatures: 3)
        let opt = Momentum(learningRate: 0.05)
        let loss = MeanSquaredError()
        var last: Float = 0
        for _ in 0..<200 {
            last = loss.forward(prediction: model.forward(x, training: true), target: t)
            model.backward(loss.backward())
            opt.update(parameters: model.parameters, gradients: model.gradients)
        }
        #expect(last < 1e-4)
        let d = model.layers[0] as! Dense
        #expect(abs(d.kernel[0, 0] - 2) < 0.01 && abs(d.bias[0] - 1) < 0.01)
    }
}
