import Tensors

/// Batch normalisation (Ioffe & Szegedy; PyTorch's `nn.BatchNorm2d` on an NCHW feature map, `nn.BatchNorm1d` on a
/// flat row, which is the shape (features, 1, 1)): per channel c over the batch and the positions, n = B·H·W values,
///   training:   μ_c, σ²_c of the batch (biased), r_c = 1/√(σ²_c + eps), x̂ = (x − μ_c)·r_c, y = γ_c·x̂ + β_c,
///               running_mean ← (1 − m)·running_mean + m·μ_c, running_var ← (1 − m)·running_var + m·σ²_c·n/(n − 1)
///   evaluation: the same with running_mean and running_var in place of the batch's statistics.
/// Parameters γ ("weight", starts at 1) then β ("bias", 0), each [C]; buffers (not trained, but saved with the
/// weights: see `Layer.namedBuffers`) running_mean (starts at 0) then running_var (starts at 1), each [C].
///
/// Data parallelism: each replica normalises with the statistics of its own local batch and updates its own running
/// statistics, as PyTorch DDP does without `SyncBatchNorm`. The gradients are all-reduced as usual; the running
/// statistics are not, so replicas' buffers drift apart slightly, and a checkpoint (written by one rank) holds that
/// rank's. Synchronised statistics over the all-reduce are not implemented.
///
/// Backward (training), with g = dy·γ_c and means over the channel's n values:
///   ∂γ_c = Σ dy·x̂,  ∂β_c = Σ dy,  dx = r_c·(g − mean(g) − x̂·mean(g·x̂));  in evaluation dx = dy·γ_c·r_c.
public final class BatchNorm: Layer {
    public let shape: FeatureShape
    public let momentum: Float
    public let eps: Float
    /// [C]
    public private(set) var gain = Tensor(shape: [0])
    public private(set) var bias = Tensor(shape: [0])
    public private(set) var gainGradient = Tensor(shape: [0])
    public private(set) var biasGradient = Tensor(shape: [0])
    /// [C], buffers
    public private(set) var runningMean = Tensor(shape: [0])
    public private(set) var runningVar = Tensor(shape: [0])

    private let outputBuffer = ReusableBuffer()
    /// x̂ of the last forward, [B, C·H·W]
    private let normalized = ReusableBuffer()
    /// r_c of the last forward, [C]
    private var reciprocalStd: [Float]
    private var lastBatch: Int?
    private var lastTraining = true

    public init(shape: FeatureShape, momentum: Float = 0.1, eps: Float = 1e-5) {
        precondition(shape.count >= 1 && eps > 0 && momentum > 0 && momentum <= 1, "BatchNorm on \(shape): bad settings")
        self.shape = shape
        self.momentum = momentum
        self.eps = eps
        reciprocalStd = [Float](repeating: 1, count: shape.channels)
    }

    public var kind: String { "batchnorm" }
    public var parameterCount: Int { 2 * shape.channels }
    public var bufferCount: Int { 2 * shape.channels }
    public func outputFeatures(forInput n: Int) -> Int? { n == shape.count ? n : nil }

    /// About 8 FLOPs per element forward and 10 backward.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double { Double(shape.count) * 18 }

    public func bind(parameters: Tensor, gradients: Tensor) {
        precondition(parameters.count == parameterCount && gradients.count == parameterCount)
        let c = shape.channels
        gain = slice(parameters, 0..<c)
        bias = slice(parameters, c..<(2 * c))
        gainGradient = slice(gradients, 0..<c)
        biasGradient = slice(gradients, c..<(2 * c))
    }

    public func bind(buffers: Tensor) {
        precondition(buffers.count == bufferCount)
        let c = shape.channels
        runningMean = slice(buffers, 0..<c)
        runningVar = slice(buffers, c..<(2 * c))
    }

    /// PyTorch's state_dict names.
    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", gain), ("bias", bias)] }
    public var namedBuffers: [(name: String, tensor: Tensor)] { [("running_mean", runningMean), ("running_var", runningVar)] }

    public func importParameter(name: String, shape: [Int], values: [Float]) -> Bool {
        guard let t = (namedParameters + namedBuffers).first(where: { $0.name == name })?.tensor, t.shape == shape else {
            return false
        }
        values.withUnsafeBufferPointer { t.pointer.update(from: $0.baseAddress!, count: values.count) }
        return true
    }

    public func initialize(_ weights: Initializer, rng: inout Xoshiro256) {
        gain.pointer.update(repeating: 1, count: shape.channels)
        bias.zero()
        runningMean.zero()
        runningVar.pointer.update(repeating: 1, count: shape.channels)
    }

    // x: [B, C·H·W] → y: [B, C·H·W]; keeps x̂ and r_c for backward.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 2 && x.columns == shape.count, "BatchNorm on \(shape) given input \(x.shape)")
        let batch = x.rows
        let y = outputBuffer.view(rows: batch, columns: shape.count)
        let xhat = normalized.view(rows: batch, columns: shape.count)
        for c in 0..<shape.channels {
            let mean: Float
            if training {
                let (m, v) = channelStatistics(x, channel: c)
                mean = Float(m)
                reciprocalStd[c] = Float(1 / (v + Double(eps)).squareRoot())
                updateRunning(channel: c, mean: m, variance: v, count: batch * shape.positions)
            } else {
                mean = runningMean[c]
                reciprocalStd[c] = 1 / (runningVar[c] + eps).squareRoot()
            }
            let (r, g, b0) = (reciprocalStd[c], gain[c], bias[c])
            forEachRun(batch: batch, channel: c) { offset in
                for p in 0..<shape.positions {
                    let h = (x.pointer[offset + p] - mean) * r
                    xhat.pointer[offset + p] = h
                    y.pointer[offset + p] = g * h + b0
                }
            }
        }
        lastBatch = batch
        lastTraining = training
        return y
    }

    // dy: [B, C·H·W] → dx (in dy's memory); ∂γ, ∂β [C] into the gradient slice.
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard let batch = lastBatch else { preconditionFailure("BatchNorm.backward before forward") }
        precondition(dy.rows == batch && dy.columns == shape.count, "BatchNorm.backward given \(dy.shape)")
        let xhat = normalized.view(rows: batch, columns: shape.count)
        let n = Double(batch * shape.positions)
        for c in 0..<shape.channels {
            var sumDy = 0.0
            var sumDyH = 0.0
            forEachRun(batch: batch, channel: c) { offset in
                for p in 0..<shape.positions {
                    sumDy += Double(dy.pointer[offset + p])
                    sumDyH += Double(dy.pointer[offset + p]) * Double(xhat.pointer[offset + p])
                }
            }
            gainGradient[c] = Float(sumDyH) + (accumulate ? gainGradient[c] : 0)
            biasGradient[c] = Float(sumDy) + (accumulate ? biasGradient[c] : 0)
            guard needInputGradient else { continue }
            let scale = gain[c] * reciprocalStd[c]
            // mean(g) and mean(g·x̂) with g = dy·γ; both terms vanish in evaluation (fixed statistics).
            let meanG = lastTraining ? Float(sumDy / n) : 0
            let meanGH = lastTraining ? Float(sumDyH / n) : 0
            forEachRun(batch: batch, channel: c) { offset in
                for p in 0..<shape.positions {
                    let i = offset + p
                    dy.pointer[i] = scale * (dy.pointer[i] - meanG - xhat.pointer[i] * meanGH)
                }
            }
        }
        return needInputGradient ? dy : nil
    }

    /// Calls `body` with the offset of channel c's run of positions in each example.
    @inline(__always) private func forEachRun(batch: Int, channel c: Int, _ body: (Int) -> Void) {
        for b in 0..<batch { body(b * shape.count + c * shape.positions) }
    }

    /// The batch mean and biased variance of channel c, two passes in Double.
    private func channelStatistics(_ x: Tensor, channel c: Int) -> (mean: Double, variance: Double) {
        var s = 0.0
        forEachRun(batch: x.rows, channel: c) { offset in
            for p in 0..<shape.positions { s += Double(x.pointer[offset + p]) }
        }
        let n = Double(x.rows * shape.positions)
        let mean = s / n
        var v = 0.0
        forEachRun(batch: x.rows, channel: c) { offset in
            for p in 0..<shape.positions {
                let d = Double(x.pointer[offset + p]) - mean
                v += d * d
            }
        }
        return (mean, v / n)
    }

    /// PyTorch's update: the running variance takes the unbiased batch variance (n/(n − 1)); one value keeps it.
    private func updateRunning(channel c: Int, mean: Double, variance: Double, count n: Int) {
        let m = Double(momentum)
        let unbiased = n > 1 ? variance * Double(n) / Double(n - 1) : Double(runningVar[c])
        runningMean[c] = Float((1 - m) * Double(runningMean[c]) + m * mean)
        runningVar[c] = Float((1 - m) * Double(runningVar[c]) + m * unbiased)
    }
}
