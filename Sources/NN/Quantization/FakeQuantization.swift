import Tensors

/// fq(x) = s·clamp(round(x / s), −127, 127): the value int8 inference computes with, in fp32 (quantize then
/// dequantize through `quantizeSymmetric`, so the two cannot disagree). NaN maps to −127·s as it does there.
@inline(__always)
public func fakeQuantize(_ x: Float, scale: Float, inverseScale: Float) -> Float {
    Float(quantizeSymmetric(x, inverseScale: inverseScale)) * scale
}

/// The straight-through estimator's pass-through region: ∂fq/∂x is taken as 1 where x / s is inside the clamp
/// [−127, 127] (rounding's zero derivative is ignored, Bengio et al. 2013) and 0 outside, where fq is constant.
@inline(__always)
public func straightThroughPasses(_ x: Float, inverseScale: Float) -> Bool {
    let v = x * inverseScale
    return v >= -127 && v <= 127
}

/// Quantization-aware training of one `Dense` (Jacob et al. 2018; PyTorch's `FakeQuantize`): forward runs on
/// fake-quantized weights (per output channel, symmetric, the scales `ChannelQuantizedWeights` uses) and a
/// fake-quantized input (one scale per tensor, from a moving-average observer of max|x|), so training sees the
/// rounding and clipping of int8 inference and learns around them. Backward is the straight-through estimator:
/// ∂K receives ∂fq(K) unchanged (a per-channel max-abs scale clips no weight) and ∂x is zeroed where x was clipped.
///
/// The observer is split in two so data-parallel replicas agree: a training forward only records the batch's
/// max|x| (`pendingMaxAbs`); the owner folds the records into the moving average between steps (`commit`), after
/// averaging them across replicas, so every replica quantizes its next forward with the same scale. Until the
/// first commit there is no scale and only the weights are fake-quantized.
public final class DenseFakeQuantizer {
    /// The moving average's weight on each new batch (PyTorch's `averaging_constant`, default 0.01).
    public let momentum: Float
    /// Moving average of the batches' max|x|; nil before the first commit.
    public private(set) var observedMaxAbs: Float?
    /// The largest |x| of the training forwards since the last commit (nil: none ran).
    public private(set) var pendingMaxAbs: Float?

    /// fq(K) of the last forward, [in, out]: backward's ∂x uses it.
    private(set) var quantizedKernel = Tensor(shape: [0, 0])
    private let quantizedInput = ReusableBuffer()
    /// The input of the last forward as given (before fake quantization): backward's clip mask reads it.
    private var rawInput: Tensor?
    private var lastInputScale: Float?

    public init(momentum: Float = 0.01) {
        precondition(momentum > 0 && momentum <= 1, "DenseFakeQuantizer: momentum must be in (0, 1]")
        self.momentum = momentum
    }

    /// The per-tensor input scale int8 inference will use: max|x| / 127 (1 when the inputs were all 0).
    public var inputScale: Float? { observedMaxAbs.map { $0 > 0 ? $0 / 127 : 1 } }

    /// Folds `maxAbs` (this step's max|x|, averaged over replicas by the caller) into the moving average: the first
    /// one sets it, as PyTorch's `MovingAverageMinMaxObserver` does. Clears the pending record.
    public func commit(maxAbs: Float) {
        pendingMaxAbs = nil
        guard maxAbs.isFinite else { return }
        observedMaxAbs = observedMaxAbs.map { $0 + momentum * (maxAbs - $0) } ?? maxAbs
    }

    /// Drops the pending record without using it (a step that produced no finite update).
    public func discardPending() { pendingMaxAbs = nil }

    /// Restores the moving average (a checkpoint, or a replica taking another's state).
    public func setObserved(maxAbs: Float?) { observedMaxAbs = maxAbs }

    /// Forward's operands: fq(x) (or x before the first commit) and fq(K). Records max|x| when training.
    public func operands(input x: Tensor, kernel: Tensor, training: Bool) -> (input: Tensor, kernel: Tensor) {
        if training {
            var m: Float = 0
            let p = x.pointer
            for i in 0..<x.count { m = max(m, abs(p[i])) }
            pendingMaxAbs = max(pendingMaxAbs ?? 0, m)
        }
        fakeQuantizeKernel(kernel)
        rawInput = x
        lastInputScale = inputScale
        guard let s = lastInputScale else { return (x, quantizedKernel) }
        let q = quantizedInput.view(rows: x.rows, columns: x.columns)
        let (src, dst, inverse) = (x.pointer, q.pointer, 1 / s)
        for i in 0..<x.count { dst[i] = fakeQuantize(src[i], scale: s, inverseScale: inverse) }
        return (q, quantizedKernel)
    }

    /// The straight-through estimator on ∂x: zero where the last forward's input was clipped.
    func maskInputGradient(_ dx: Tensor) {
        guard let s = lastInputScale, let x = rawInput else { return }
        let (xp, gp, inverse) = (x.pointer, dx.pointer, 1 / s)
        for i in 0..<dx.count where !straightThroughPasses(xp[i], inverseScale: inverse) { gp[i] = 0 }
    }

    /// fq(K) per output channel into `quantizedKernel`: s[j] = max_i |K[i, j]| / 127, as `ChannelQuantizedWeights`.
    private func fakeQuantizeKernel(_ kernel: Tensor) {
        let (n, m) = (kernel.shape[0], kernel.shape[1])
        if quantizedKernel.shape != [n, m] { quantizedKernel = Tensor(shape: [n, m]) }
        let (k, out) = (kernel.pointer, quantizedKernel.pointer)
        var maxAbs = [Float](repeating: 0, count: m)
        for i in 0..<n { for j in 0..<m { maxAbs[j] = max(maxAbs[j], abs(k[i * m + j])) } }
        let scales = maxAbs.map { $0 > 0 ? $0 / 127 : 1 }
        let inverse = scales.map { 1 / $0 }
        for i in 0..<n {
            for j in 0..<m { out[i * m + j] = fakeQuantize(k[i * m + j], scale: scales[j], inverseScale: inverse[j]) }
        }
    }
}
