import CWireKernels

/// The element-wise kernels of a reduced-precision wire (bf16 or fp16 on the ring, fp32 sums at every hop). bf16
/// runs in `CWireKernels`, per ISA: this module is built for baseline x86-64, where even 16-lane Swift SIMD code
/// compiled to SSE2 cost W2 about 2.7 ms a step in encoding and rounding (`perf`, 2 netns hosts), more than half of
/// what halving the bytes saved. The scalar `bf16(_:)` below is the definition the C kernels are tested against.
extension ReduceKernels {
    static let isa = WireInstructionSet.selected.code

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

    /// Encodes `count` floats into `out` in the wire precision.
    static func encode(_ src: UnsafePointer<Float>, count: Int, as wire: WirePrecision, into out: UnsafeMutableRawPointer) {
        switch wire {
        case .float32: out.copyMemory(from: src, byteCount: count * 4)
        case .bfloat16:
            cohort_bf16_encode(isa, src, count, out.assumingMemoryBound(to: UInt16.self))
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
        switch wire {
        case .float32: add(into: dst, from: src, count: count)
        case .bfloat16: cohort_bf16_accumulate(isa, src.assumingMemoryBound(to: UInt16.self), count, dst)
        case .float16: for i in 0..<count { dst[i] += decode(src, i, wire) }
        }
    }

    static func addAndDivide(
        into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision, divisor: Float
    ) {
        switch wire {
        case .float32: addAndDivide(into: dst, from: src, count: count, divisor: divisor)
        case .bfloat16:
            cohort_bf16_accumulate_divide(isa, src.assumingMemoryBound(to: UInt16.self), count, divisor, dst)
        case .float16: for i in 0..<count { dst[i] = (dst[i] + decode(src, i, wire)) / divisor }
        }
    }

    static func copy(into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision) {
        switch wire {
        case .float32: copy(into: dst, from: src, count: count)
        case .bfloat16: cohort_bf16_decode(isa, src.assumingMemoryBound(to: UInt16.self), count, dst)
        case .float16: for i in 0..<count { dst[i] = decode(src, i, wire) }
        }
    }

    /// Rounds values to what the wire carries, in place, so a rank's own copy equals its peers' copies.
    static func quantize(_ dst: UnsafeMutablePointer<Float>, count: Int, wire: WirePrecision) {
        switch wire {
        case .float32: return
        case .bfloat16: cohort_bf16_quantize(isa, dst, count)
        case .float16: for i in 0..<count { dst[i] = Float(Float16(dst[i])) }
        }
    }
}
