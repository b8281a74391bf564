import CInt8Kernels

/// Symmetric per-tensor quantization of fp32 activations for the int8 GEMM:
/// out[i] = round-half-even(clamp(x[i] · inverseScale, −127, 127)), NaN → −127, on `kernel`'s ISA (the int8
/// GEMM's family by default). Every path equals `referenceQuantizeInt8` exactly.
public func quantizeInt8(
    _ x: UnsafePointer<Float>, count: Int, inverseScale: Float, into out: UnsafeMutablePointer<Int8>,
    kernel: GEMMKernel = .selectedInt8
) {
    precondition(count >= 0, "quantizeInt8: negative count")
    switch kernel {
    case .avx512 where kernel.isSupported: cohort_i8_quantize_avx512(x, count, inverseScale, out)
    case .avx2 where kernel.isSupported: cohort_i8_quantize_avx2(x, count, inverseScale, out)
    default: cohort_i8_quantize_portable(x, count, inverseScale, out)
    }
}

/// The definition `quantizeInt8` is checked against, in Swift.
public func referenceQuantizeInt8(_ x: Float, inverseScale: Float) -> Int8 {
    var v = x * inverseScale
    v = v > -127 ? v : -127
    v = v < 127 ? v : 127
    return Int8(v.rounded(.toNearestOrEven))
}
