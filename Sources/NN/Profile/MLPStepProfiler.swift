import Foundation
import Tensors

/// Times each operation of `MLPStepOps` on a real `Sequential` MLP (its own Dense and ReLU layers, loss and
/// momentum optimizer, through the same kernels a training step calls), and the whole step as `Trainer` runs it,
/// so the two can be checked against each other. Medians over `reps` repetitions after a warm-up.
public struct MLPStepProfiler {
    public let widths: [Int]
    public let batch: Int
    let model: Sequential
    let x: Tensor
    let labels: [Int32]
    let optimizer: Momentum
    let loss = SoftmaxCrossEntropy()

    public init(widths: [Int], batch: Int, seed: UInt64 = 1) {
        self.widths = widths
        self.batch = batch
        model = Sequential(mlp: widths)
        model.initialize(.heNormal, seed: seed)
        var rng = Xoshiro256(seed: seed)
        x = Tensor(
            shape: [batch, widths[0]], values: (0..<batch * widths[0]).map { _ in Float.random(in: -0.5..<0.5, using: &rng) })
        labels = (0..<batch).map { Int32($0 % (widths.last ?? 1)) }
        optimizer = Momentum(learningRate: 0.01, momentum: 0.9)
    }

    /// One plain step: forward, loss, backward, update (what the per-op times must add up to).
    public func step() {
        let logits = model.forward(x, training: true)
        _ = loss.forward(logits: logits, labels: labels)
        _ = model.backward(loss.backward())
        optimizer.update(parameters: model.parameters, gradients: model.gradients)
    }

    /// Seconds of each op of one step, in `MLPStepOps` order (the same calls as `step`, timed one by one).
    public func timedStep() -> [Double] {
        var times: [Double] = []
        let time = { (body: () -> Void) in
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        var h = x
        var inputs: [Tensor] = []
        for (i, layer) in model.layers.enumerated() {
            if let dense = layer as? Dense {
                inputs.append(h)
                let scratch = Tensor(shape: [batch, dense.outputs])
                time {
                    for r in 0..<batch {
                        (scratch.pointer + r * dense.outputs).update(from: dense.bias.pointer, count: dense.outputs)
                    }
                }
                var y = h
                time { y = dense.forward(h, training: true) }
                times[times.count - 1] = max(0, times[times.count - 1] - times[times.count - 2])
                h = y
            } else {
                time { h = model.layers[i].forward(h, training: true) }
            }
        }
        var dy = h
        time {
            _ = loss.forward(logits: h, labels: labels)
            dy = loss.backward()
        }
        backward(dy, inputs: inputs, time: time)
        time { optimizer.update(parameters: model.parameters, gradients: model.gradients) }
        return times
    }

    private func backward(_ start: Tensor, inputs: [Tensor], time: (() -> Void) -> Void) {
        var dy = start
        var denseIndex = inputs.count - 1
        for layer in model.layers.reversed() {
            guard let dense = layer as? Dense else {
                time { dy = layer.backward(dy, accumulate: false, needInputGradient: true) ?? dy }
                continue
            }
            let xin = inputs[denseIndex]
            time {
                sgemm(
                    transA: .transpose, transB: .none, m: dense.inputs, n: dense.outputs, k: batch, alpha: 1,
                    a: xin.pointer, lda: dense.inputs, b: dy.pointer, ldb: dense.outputs, beta: 0,
                    c: dense.kernelGradient.pointer, ldc: dense.outputs)
            }
            time {
                columnSums(dy.pointer, rows: batch, cols: dense.outputs, into: dense.biasGradient.pointer, accumulate: false)
            }
            if denseIndex > 0 {
                let dx = Tensor(shape: [batch, dense.inputs])
                time {
                    sgemm(
                        transA: .none, transB: .transpose, m: batch, n: dense.inputs, k: dense.outputs, alpha: 1,
                        a: dy.pointer, lda: dense.outputs, b: dense.kernel.pointer, ldb: dense.outputs, beta: 0,
                        c: dx.pointer, ldc: dense.inputs)
                }
                dy = dx
            }
            denseIndex -= 1
        }
    }
}
