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
    /// Each op of the last `timedStep` that is not a GEMM, as a closure that runs it again on the same buffers;
    /// nil for the GEMMs. `isolatedSeconds` times an op on its own with them.
    private let replays = Replays()

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
        replays.ops = []
        let time = { (body: () -> Void) in
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            replays.ops.append(nil)
        }
        // An op that can run again on the same buffers with the same result (all but the forward GEMMs here, which
        // add to the bias they are given).
        let timeReplayable = { (body: @escaping () -> Void) in
            time(body)
            replays.ops[replays.ops.count - 1] = body
        }
        var h = x
        var inputs: [Tensor] = []
        for (i, layer) in model.layers.enumerated() {
            if let dense = layer as? Dense {
                inputs.append(h)
                let scratch = Tensor(shape: [batch, dense.outputs])
                timeReplayable { [batch] in
                    for r in 0..<batch {
                        (scratch.pointer + r * dense.outputs).update(from: dense.bias.pointer, count: dense.outputs)
                    }
                }
                var y = h
                time { y = dense.forward(h, training: true) }
                times[times.count - 1] = max(0, times[times.count - 1] - times[times.count - 2])
                h = y
            } else {
                let input = h
                let relu = model.layers[i]
                time { h = relu.forward(input, training: true) }
                replays.ops[replays.ops.count - 1] = { _ = relu.forward(input, training: true) }
            }
        }
        var dy = h
        let logits = h
        time {
            _ = loss.forward(logits: logits, labels: labels)
            dy = loss.backward()
        }
        replays.ops[replays.ops.count - 1] = { [loss, labels] in
            _ = loss.forward(logits: logits, labels: labels)
            _ = loss.backward()
        }
        backward(dy, inputs: inputs, replayable: timeReplayable)
        timeReplayable { [optimizer, model] in optimizer.update(parameters: model.parameters, gradients: model.gradients) }
        return times
    }

    /// Median seconds of op `index` of the last `timedStep` run `reps` times in a row on its own buffers (its data
    /// hot in cache after the first), nil for a forward GEMM: beside its time in the step, whether its shortfall is the
    /// cache state the ops before it leave or the op itself.
    public func isolatedSeconds(op index: Int, reps: Int = 31) -> Double? {
        guard replays.ops.indices.contains(index), let op = replays.ops[index] else { return nil }
        op()
        var samples: [Double] = []
        for _ in 0..<max(reps, 1) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            op()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        return samples.sorted()[samples.count / 2]
    }

    private func backward(
        _ start: Tensor, inputs: [Tensor], replayable: (@escaping () -> Void) -> Void
    ) {
        var dy = start
        var denseIndex = inputs.count - 1
        for layer in model.layers.reversed() {
            guard let dense = layer as? Dense else {
                let gradient = dy
                replayable { _ = layer.backward(gradient, accumulate: false, needInputGradient: true) }
                continue
            }
            let xin = inputs[denseIndex]
            let gradientIn = dy
            replayable { [batch] in
                sgemm(
                    transA: .transpose, transB: .none, m: dense.inputs, n: dense.outputs, k: batch, alpha: 1,
                    a: xin.pointer, lda: dense.inputs, b: gradientIn.pointer, ldb: dense.outputs, beta: 0,
                    c: dense.kernelGradient.pointer, ldc: dense.outputs)
            }
            replayable { [batch] in
                columnSums(
                    gradientIn.pointer, rows: batch, cols: dense.outputs, into: dense.biasGradient.pointer, accumulate: false)
            }
            if denseIndex > 0 {
                let dx = Tensor(shape: [batch, dense.inputs])
                replayable { [batch] in
                    sgemm(
                        transA: .none, transB: .transpose, m: batch, n: dense.inputs, k: dense.outputs, alpha: 1,
                        a: gradientIn.pointer, lda: dense.outputs, b: dense.kernel.pointer, ldb: dense.outputs, beta: 0,
                        c: dx.pointer, ldc: dense.inputs)
                }
                dy = dx
            }
            denseIndex -= 1
        }
    }
}

/// The replays of `MLPStepProfiler.timedStep`, held by reference so the profiler stays a value.
private final class Replays {
    var ops: [(() -> Void)?] = []
}
