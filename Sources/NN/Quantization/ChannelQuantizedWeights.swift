import Tensors

/// A Dense kernel [in, out] as symmetric int8 with one scale per output channel (column): q = round(K / s) with
/// s[j] = max_i |K[i, j]| / 127, so q ∈ [−127, 127] and the dequantized s·q is within s/2 of K (one
/// quantization step is s). Per-channel scales are what keeps post-training int8 close to fp32: one scale per
/// tensor lets the widest channel set the step for all (PyTorch's MobileNetV2 tutorial: 56.7% per-tensor, 67.3%
/// per-channel).
public struct ChannelQuantizedWeights: Sendable, Equatable {
    public let inputs: Int
    public let outputs: Int
    /// [in, out] row-major, like `Dense.kernel`.
    public let values: [Int8]
    /// [out]
    public let scales: [Float]

    public init(inputs: Int, outputs: Int, values: [Int8], scales: [Float]) {
        precondition(values.count == inputs * outputs && scales.count == outputs, "ChannelQuantizedWeights: sizes")
        self.inputs = inputs
        self.outputs = outputs
        self.values = values
        self.scales = scales
    }

    /// Quantizes `kernel` [in, out]. An all-zero column gets scale 1 (its values are 0 either way).
    public init(kernel: Tensor) {
        precondition(kernel.rank == 2, "ChannelQuantizedWeights: kernel must be [in, out], got \(kernel.shape)")
        let (n, m) = (kernel.shape[0], kernel.shape[1])
        let k = kernel.pointer
        var maxAbs = [Float](repeating: 0, count: m)
        for i in 0..<n { for j in 0..<m { maxAbs[j] = max(maxAbs[j], abs(k[i * m + j])) } }
        let scales = maxAbs.map { $0 > 0 ? $0 / 127 : 1 }
        let inverse = scales.map { 1 / $0 }
        var q = [Int8](repeating: 0, count: n * m)
        for i in 0..<n {
            for j in 0..<m { q[i * m + j] = quantizeSymmetric(k[i * m + j], inverseScale: inverse[j], limit: 127) }
        }
        self.init(inputs: n, outputs: m, values: q, scales: scales)
    }

    /// s[j]·q[i, j], [in, out].
    public func dequantized() -> [Float] {
        (0..<(inputs * outputs)).map { Float(values[$0]) * scales[$0 % outputs] }
    }
}

/// round-half-even(x / s), clamped to ±`limit` (127: the symmetric range weights and activations both use).
@inline(__always)
public func quantizeSymmetric(_ x: Float, inverseScale: Float, limit: Float = 127) -> Int8 {
    var v = x * inverseScale
    v = v > -limit ? v : -limit  // NaN → −limit, never a trap
    v = v < limit ? v : limit
    return Int8(v.rounded(.toNearestOrEven))
}
