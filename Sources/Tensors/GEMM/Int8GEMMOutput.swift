/// How an int8 GEMM's int32 results are stored: requantization fused into the kernel's store, so the int32 tile
/// never goes to memory. For column j (`scale` and `bias` hold one entry per column of C):
///   f = Float(acc) · scale[j] (+ bias[j]) (then max(f, 0) with `relu`)
///   q = round-half-even(clamp(f · (1/outputScale), −128, 127))
/// `scale[j]` is normally activation scale × weight scale of output channel j. The multiply and add round
/// separately (no FMA), so every kernel and `referenceInt8Gemm` agree bit for bit.
public enum Int8GEMMOutput {
    /// The exact int32 products.
    case int32(UnsafeMutablePointer<Int32>, ldc: Int)
    /// Dequantized fp32.
    case float32(UnsafeMutablePointer<Float>, ldc: Int, Int8Requantization)
    /// Requantized int8 with the per-tensor `outputScale` (> 0), the next quantized layer's input.
    case int8(UnsafeMutablePointer<Int8>, ldc: Int, Int8Requantization, outputScale: Float)

    var ldc: Int {
        switch self {
        case .int32(_, let ldc), .float32(_, let ldc, _), .int8(_, let ldc, _, _): return ldc
        }
    }
}

/// The per-column scale (and optional bias and ReLU) of a requantizing store.
public struct Int8Requantization {
    public let scale: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>?
    public let relu: Bool

    public init(scale: UnsafePointer<Float>, bias: UnsafePointer<Float>? = nil, relu: Bool = false) {
        self.scale = scale
        self.bias = bias
        self.relu = relu
    }

    /// f for column j, the formula every kernel's store computes (the reference's definition of it).
    @inline(__always)
    public func dequantize(_ acc: Int32, column j: Int) -> Float {
        var f = Float(acc) * scale[j]
        if let bias { f = f + bias[j] }
        if relu { f = f > 0 ? f : 0 }
        return f
    }

    /// q from f: scaled by the reciprocal of the output scale, clamped, rounded half to even.
    @inline(__always)
    public static func quantize(_ f: Float, inverseScale: Float) -> Int8 {
        let x = min(max(f * inverseScale, -128), 127)
        return Int8(x.rounded(.toNearestOrEven))
    }
}
