import Tensors

/// Batch normalisation (Ioffe & Szegedy; PyTorch's `nn.BatchNorm2d` on an NCHW feature map, `nn.BatchNorm1d` on a
/// flat row, which is the shape (features, 1, 1)): per channel c over the batch and the positions, n = B·H·W values,
///   training:   μ_c, σ²_c of the batch (biased), r_c = 1/√(σ²_c + eps), x̂ = (x − μ_c)·r_c, y = γ_c·x̂ + β_c,
///               running_mean ← (1 − m)·running_mean + m·μ_c, running_var ← (1 − m)·running_var + m·σ²_c·n/(n − 1)
///   evaluation: the same with running_mean and running_var in place of the batch's statistics.
/// Parameters γ ("weight", starts at 1) then β ("bias", 0), each [C]; buffers (not trained, but saved with the
/// weights: see `Layer.namedBuffers`) running_mean (starts at 0) then running_var (starts at 1), each [C].
///
/// Data parallelism: by default each replica normalises with the statistics of its own local batch and updates its
/// own running statistics, as PyTorch DDP does without `SyncBatchNorm`; the running statistics are not all-reduced,
/// so replicas' buffers drift apart slightly, and a checkpoint (written by one rank) holds that rank's.
/// `synchronized` (PyTorch's `SyncBatchNorm`): in training, μ_c and σ²_c are those of the GLOBAL batch, summed over the
/// replicas by the injected `statisticsReducer` (Σx and the count, then Σ(x − μ)², so the variance does not cancel),
/// and backward sums Σdy and Σdy·x̂ the same way, so every replica's dx is the slice of the single-process dx of the
/// concatenated batch; ∂γ and ∂β stay local sums (the gradient all-reduce adds them, as for any parameter), and
/// every replica's running statistics stay identical. Without a reducer (one process) it is plain batch norm.
///
/// Backward (training), with g = dy·γ_c and means over the channel's n values:
///   ∂γ_c = Σ dy·x̂,  ∂β_c = Σ dy,  dx = r_c·(g − mean(g) − x̂·mean(g·x̂));  in evaluation dx = dy·γ_c·r_c.
public final class BatchNorm: Layer {
    public let shape: FeatureShape
    public let momentum: Float
    public let eps: Float
    /// Batch statistics over all data-parallel replicas (SyncBatchNorm); needs `statisticsReducer` to take effect.
    public let synchronized: Bool
    /// Sums statistics over the replicas; set by the data-parallel worker for a synchronised layer.
    public var statisticsReducer: BatchStatisticsReducer?
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
    /// The number of values each channel's statistics of the last training forward covered (all replicas' when
    /// synchronised), and whether they were.
    private var lastCount = 0
    private var lastSynchronized = false

    public init(shape: FeatureShape, momentum: Float = 0.1, eps: Float = 1e-5, synchronized: Bool = false) {
        precondition(shape.count >= 1 && eps > 0 && momentum > 0 && momentum <= 1, "BatchNorm on \(shape): bad settings")
        self.shape = shape
        self.momentum = momentum
        self.eps = eps
        self.synchronized = synchronized
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
        let statistics = training ? batchStatistics(x) : nil
        for c in 0..<shape.channels {
            let mean: Float
            if let statistics {
                let (m, v) = (statistics.means[c], statistics.variances[c])
                mean = Float(m)
                reciprocalStd[c] = Float(1 / (v + Double(eps)).squareRoot())
                updateRunning(channel: c, mean: m, variance: v, count: statistics.count)
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
        let channels = shape.channels
        // [Σdy per channel, then Σdy·x̂ per channel] over this replica's rows.
        var sums = [Double](repeating: 0, count: 2 * channels)
        for c in 0..<channels {
            var (sumDy, sumDyH) = (0.0, 0.0)
            forEachRun(batch: batch, channel: c) { offset in
                for p in 0..<shape.positions {
                    sumDy += Double(dy.pointer[offset + p])
                    sumDyH += Double(dy.pointer[offset + p]) * Double(xhat.pointer[offset + p])
                }
            }
            (sums[c], sums[channels + c]) = (sumDy, sumDyH)
            gainGradient[c] = Float(sums[channels + c]) + (accumulate ? gainGradient[c] : 0)
            biasGradient[c] = Float(sums[c]) + (accumulate ? biasGradient[c] : 0)
        }
        guard needInputGradient else { return nil }
        if lastTraining && lastSynchronized { sums = replicaSums(sums) ?? sums }
        let n = Double(lastCount)
        for c in 0..<channels {
            let (sumDy, sumDyH) = (sums[c], sums[channels + c])
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
        return dy
    }

    /// Calls `body` with the offset of channel c's run of positions in each example.
    @inline(__always) private func forEachRun(batch: Int, channel c: Int, _ body: (Int) -> Void) {
        for b in 0..<batch { body(b * shape.count + c * shape.positions) }
    }

    /// Each channel's batch mean and biased variance, and the number of values they cover: this replica's batch, or
    /// with a reducer every replica's (two passes in Double here; the sums cross the replicas as Float). A failed
    /// reduction falls back to the local statistics; the reducer's owner fails the step.
    private func batchStatistics(_ x: Tensor) -> (means: [Double], variances: [Double], count: Int) {
        let channels = shape.channels
        var sums = (0..<channels).map { c in sumOverChannel(x, channel: c) { $0 } } + [Double(x.rows * shape.positions)]
        lastSynchronized = synchronized && statisticsReducer != nil
        if lastSynchronized, let global = replicaSums(sums) {
            sums = global
        } else {
            lastSynchronized = false
        }
        let n = sums[channels]
        let means = sums[0..<channels].map { n > 0 ? $0 / n : 0 }
        var squares = (0..<channels).map { c in sumOverChannel(x, channel: c) { ($0 - means[c]) * ($0 - means[c]) } }
        if lastSynchronized { squares = replicaSums(squares) ?? squares }
        lastCount = Int(n.rounded())
        return (means, squares.map { n > 0 ? $0 / n : 0 }, lastCount)
    }

    /// Σ f(x) over channel c's values in Double.
    @inline(__always) private func sumOverChannel(_ x: Tensor, channel c: Int, _ f: (Double) -> Double) -> Double {
        var s = 0.0
        forEachRun(batch: x.rows, channel: c) { offset in
            for p in 0..<shape.positions { s += f(Double(x.pointer[offset + p])) }
        }
        return s
    }

    /// `values` summed over the replicas by the reducer, or nil when it failed.
    private func replicaSums(_ values: [Double]) -> [Double]? {
        guard let statisticsReducer else { return nil }
        var wire = values.map(Float.init)
        let ok = wire.withUnsafeMutableBufferPointer { statisticsReducer.sumAcrossReplicas($0) }
        return ok ? wire.map(Double.init) : nil
    }

    /// PyTorch's update: the running variance takes the unbiased batch variance (n/(n − 1)); one value keeps it.
    private func updateRunning(channel c: Int, mean: Double, variance: Double, count n: Int) {
        let m = Double(momentum)
        let unbiased = n > 1 ? variance * Double(n) / Double(n - 1) : Double(runningVar[c])
        runningMean[c] = Float((1 - m) * Double(runningMean[c]) + m * mean)
        runningVar[c] = Float((1 - m) * Double(runningVar[c]) + m * unbiased)
    }
}
