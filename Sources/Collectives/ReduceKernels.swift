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

    /// fp32 → bf16 with round-to-nearest-even (NaN stays NaN).
    @inline(__always)
    static func bf16(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: b >> 16) | 0x40 }
        let rounded = b &+ 0x7FFF &+ ((b >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    @inline(__always)
    static func float(bf16 h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// Encodes `count` floats into `out` in the wire precision.
    static func encode(_ src: UnsafePointer<Float>, count: Int, as wire: WirePrecision, into out: UnsafeMutableRawPointer) {
        switch wire {
        case .float32: out.copyMemory(from: src, byteCount: count * 4)
        case .bfloat16:
            for i in 0..<count { out.storeBytes(of: bf16(src[i]), toByteOffset: i * 2, as: UInt16.self) }
        case .float16:
            for i in 0..<count { out.storeBytes(of: Float16(src[i]).bitPattern, toByteOffset: i * 2, as: UInt16.self) }
        }
    }

    @inline(__always)
    static func decode(_ src: UnsafeRawPointer, _ i: Int, _ wire: WirePrecision) -> Float {
        switch wire {
        case .float32: return src.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
        case .bfloat16: return float(bf16: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
        case .float16: return Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
        }
    }

    /// dst[i] += decode(src[i])
    static func add(into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision) {
        if wire == .float32 { return add(into: dst, from: src, count: count) }
        for i in 0..<count { dst[i] += decode(src, i, wire) }
    }

    static func addAndDivide(
        into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision, divisor: Float
    ) {
        if wire == .float32 { return addAndDivide(into: dst, from: src, count: count, divisor: divisor) }
        for i in 0..<count { dst[i] = (dst[i] + decode(src, i, wire)) / divisor }
    }

    static func copy(into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision) {
        if wire == .float32 { return copy(into: dst, from: src, count: count) }
        for i in 0..<count { dst[i] = decode(src, i, wire) }
    }

    /// Rounds values to what the wire carries, in place, so a rank's own copy equals its peers' copies.
    static func quantize(_ dst: UnsafeMutablePointer<Float>, count: Int, wire: WirePrecision) {
        switch wire {
        case .float32: return
        case .bfloat16: for i in 0..<count { dst[i] = float(bf16: bf16(dst[i])) }
        case .float16: for i in 0..<count { dst[i] = Float(Float16(dst[i])) }
        }
    }
}
