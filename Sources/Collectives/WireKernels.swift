/// The element-wise kernels of a reduced-precision wire (bf16 or fp16 on the ring, fp32 sums at every hop). bf16
/// runs 16 lanes at a time: a scalar loop with the NaN branch cost more than the halved bytes saved (a bf16 ring
/// over shared memory ran at 0.4–0.6× fp32's bus bandwidth), so compression only paid on slow links.
extension ReduceKernels {
    /// fp32 → bf16 with round-to-nearest-even (NaN stays a quiet NaN).
    @inline(__always)
    static func bf16(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: b >> 16) | 0x40 }
        let rounded = b &+ 0x7FFF &+ ((b >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    @inline(__always)
    static func float(bf16 h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// The bf16 rounding of 16 lanes, as `bf16(_:)` does for one, without a branch.
    @inline(__always)
    static func bf16(_ x: SIMD16<Float>) -> SIMD16<UInt16> {
        let b = unsafeBitCast(x, to: SIMD16<UInt32>.self)
        let rounded = (b &+ 0x7FFF &+ ((b &>> 16) & 1)) &>> 16
        let quietNaN = (b &>> 16) | 0x40
        return SIMD16<UInt16>(truncatingIfNeeded: rounded.replacing(with: quietNaN, where: x .!= x))
    }

    @inline(__always)
    static func float(bf16 h: SIMD16<UInt16>) -> SIMD16<Float> {
        unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: h) &<< 16, to: SIMD16<Float>.self)
    }

    @inline(__always)
    static func loadBF16(_ src: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> {
        float(bf16: src.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self))
    }

    /// Encodes `count` floats into `out` in the wire precision.
    static func encode(_ src: UnsafePointer<Float>, count: Int, as wire: WirePrecision, into out: UnsafeMutableRawPointer) {
        switch wire {
        case .float32: out.copyMemory(from: src, byteCount: count * 4)
        case .bfloat16:
            let s = UnsafeRawPointer(src)
            var i = 0
            while i + 16 <= count {
                let x = s.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                out.storeBytes(of: bf16(x), toByteOffset: i * 2, as: SIMD16<UInt16>.self)
                i += 16
            }
            for j in i..<count { out.storeBytes(of: bf16(src[j]), toByteOffset: j * 2, as: UInt16.self) }
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

    /// Applies `combine(dst[i…i+15], decoded src[i…i+15])` over whole bf16 vectors and returns where the tail starts.
    @inline(__always)
    static func bf16Vectors(
        _ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, count: Int,
        _ combine: (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>
    ) -> Int {
        let d = UnsafeMutableRawPointer(dst)
        var i = 0
        while i + 16 <= count {
            let a = d.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            d.storeBytes(of: combine(a, loadBF16(src, i)), toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        return i
    }

    /// dst[i] += decode(src[i])
    static func add(into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision) {
        if wire == .float32 { return add(into: dst, from: src, count: count) }
        let start = wire == .bfloat16 ? bf16Vectors(dst, src, count: count, +) : 0
        for i in start..<count { dst[i] += decode(src, i, wire) }
    }

    static func addAndDivide(
        into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision, divisor: Float
    ) {
        if wire == .float32 { return addAndDivide(into: dst, from: src, count: count, divisor: divisor) }
        let v = SIMD16<Float>(repeating: divisor)
        let start = wire == .bfloat16 ? bf16Vectors(dst, src, count: count) { ($0 + $1) / v } : 0
        for i in start..<count { dst[i] = (dst[i] + decode(src, i, wire)) / divisor }
    }

    static func copy(into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision) {
        if wire == .float32 { return copy(into: dst, from: src, count: count) }
        let start = wire == .bfloat16 ? bf16Vectors(dst, src, count: count) { $1 } : 0
        for i in start..<count { dst[i] = decode(src, i, wire) }
    }

    /// Rounds values to what the wire carries, in place, so a rank's own copy equals its peers' copies.
    static func quantize(_ dst: UnsafeMutablePointer<Float>, count: Int, wire: WirePrecision) {
        switch wire {
        case .float32: return
        case .bfloat16:
            let d = UnsafeMutableRawPointer(dst)
            var i = 0
            while i + 16 <= count {
                let x = d.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                d.storeBytes(of: float(bf16: bf16(x)), toByteOffset: i * 4, as: SIMD16<Float>.self)
                i += 16
            }
            for j in i..<count { dst[j] = float(bf16: bf16(dst[j])) }
        case .float16: for i in 0..<count { dst[i] = Float(Float16(dst[i])) }
        }
    }
}
