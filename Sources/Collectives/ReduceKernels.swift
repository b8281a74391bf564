import Transport

/// Element-wise kernels of the reductions: plain loops over SIMD16 so the compiler emits vector loads/adds.
/// The payload side is read with unaligned loads: libzmq's message buffers need not be 64-byte aligned.
enum ReduceKernels {
    /// dst[i] += src[i]
    @inline(__always)
    static func add(into dst: UnsafeMutablePointer<Float>, from src: UnsafeRawPointer, count: Int) {
        let d = UnsafeMutableRawPointer(dst)
        var i = 0
        while i + 16 <= count {
            let a = d.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let b = src.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            d.storeBytes(of: a + b, toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            dst[i] += src.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
            i += 1
        }
    }

    /// dst[i] = (dst[i] + src[i]) / divisor — the last step of an average, done once by the owning rank.
    @inline(__always)
    static func addAndDivide(into dst: UnsafeMutablePointer<Float>, from src: UnsafeRawPointer, count: Int, divisor: Float) {
        let d = UnsafeMutableRawPointer(dst)
        let v = SIMD16<Float>(repeating: divisor)
        var i = 0
        while i + 16 <= count {
            let a = d.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let b = src.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            d.storeBytes(of: (a + b) / v, toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            dst[i] = (dst[i] + src.loadUnaligned(fromByteOffset: i * 4, as: Float.self)) / divisor
            i += 1
        }
    }

    static func divide(_ dst: UnsafeMutablePointer<Float>, count: Int, divisor: Float) {
        for i in 0..<count { dst[i] = dst[i] / divisor }
    }

    static func copy(into dst: UnsafeMutablePointer<Float>, from src: UnsafeRawPointer, count: Int) {
        if count > 0 { UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4) }
    }

    // MARK: reduced-precision wire formats
}
