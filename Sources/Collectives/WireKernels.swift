import CWireKernels

/// The element-wise kernels of a reduced-precision wire (bf16 or fp16 on the ring, fp32 sums at every hop). Both
/// run in `CWireKernels`, per ISA: this module is built for baseline x86-64, where even 16-lane Swift SIMD code
/// compiled to SSE2 cost W2 about 2.7 ms a step in bf16 encoding and rounding (`perf`, 2 netns hosts), more than
/// half of what halving the bytes saved, and fp16 was a libcall per element. `WireKernelVariantsTests` checks every
/// variant against the formats' definitions written in Swift.
extension ReduceKernels {
    static let isa = WireInstructionSet.selected.code

    /// Encodes `count` floats into `out` in the wire precision.
    static func encode(_ src: UnsafePointer<Float>, count: Int, as wire: WirePrecision, into out: UnsafeMutableRawPointer) {
        switch wire {
        case .float32: out.copyMemory(from: src, byteCount: count * 4)
        case .bfloat16:
            cohort_bf16_encode(isa, src, count, out.assumingMemoryBound(to: UInt16.self))
        case .float16: cohort_f16_encode(isa, src, count, out.assumingMemoryBound(to: UInt16.self))
        }
    }

    /// dst[i] += the wire value src[i] as fp32
    static func add(into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision) {
        switch wire {
        case .float32: add(into: dst, from: src, count: count)
        case .bfloat16: cohort_bf16_accumulate(isa, src.assumingMemoryBound(to: UInt16.self), count, dst)
        case .float16: cohort_f16_accumulate(isa, src.assumingMemoryBound(to: UInt16.self), count, dst)
        }
    }

    static func addAndDivide(
        into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision, divisor: Float
    ) {
        switch wire {
        case .float32: addAndDivide(into: dst, from: src, count: count, divisor: divisor)
        case .bfloat16:
            cohort_bf16_accumulate_divide(isa, src.assumingMemoryBound(to: UInt16.self), count, divisor, dst)
        case .float16:
            cohort_f16_accumulate_divide(isa, src.assumingMemoryBound(to: UInt16.self), count, divisor, dst)
        }
    }

    static func copy(into dst: UnsafeMutablePointer<Float>, fromWire src: UnsafeRawPointer, count: Int, wire: WirePrecision) {
        switch wire {
        case .float32: copy(into: dst, from: src, count: count)
        case .bfloat16: cohort_bf16_decode(isa, src.assumingMemoryBound(to: UInt16.self), count, dst)
        case .float16: cohort_f16_decode(isa, src.assumingMemoryBound(to: UInt16.self), count, dst)
        }
    }

    /// Rounds values to what the wire carries, in place, so a rank's own copy equals its peers' copies.
    static func quantize(_ dst: UnsafeMutablePointer<Float>, count: Int, wire: WirePrecision) {
        switch wire {
        case .float32: return
        case .bfloat16: cohort_bf16_quantize(isa, dst, count)
        case .float16: cohort_f16_quantize(isa, dst, count)
        }
    }
}
