/// How contributions combine. Average divides the reduced value once, on the rank that owns it, so every rank
/// receives the same bits.
public enum ReduceOp: String, Sendable, CaseIterable {
    case sum, average
}

/// The element type on the wire. Reductions always accumulate in fp32; bf16/fp16 halve the bytes sent.
///
/// Tolerance (documented contract, checked by the tests): every value crossing the wire is rounded to the wire
/// type once per hop, so the result of an all-reduce over N ranks is within N · ε · Σ|xᵢ| of the exact sum,
/// with ε = 2⁻⁸ for bf16 (8-bit significand) and 2⁻¹¹ for fp16 (11-bit significand; values must stay within
/// ±65504). Results are still bitwise identical on all ranks: whatever a rank keeps of its own contribution is
/// rounded to the wire type exactly as its peers see it.
public enum WirePrecision: String, Sendable, CaseIterable {
    case float32, bfloat16, float16

    public var relativeTolerancePerHop: Float {
        switch self {
        case .float32: return 0
        case .bfloat16: return 1.0 / 256
        case .float16: return 1.0 / 2048
        }
    }
}
