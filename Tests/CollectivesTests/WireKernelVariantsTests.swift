import CWireKernels
import Collectives
import Testing

/// Every ISA variant of the bf16 and fp16 wire kernels this CPU runs, against references written from the definition in
/// Swift: replicas on machines with different instruction sets must compute the same bits. Counts cover whole
/// vectors of 8 and 16 lanes, the scalar tail, and a start one element past an aligned address.
@Suite struct WireKernelVariantsTests {
    static let variants = WireInstructionSet.allCases.filter(\.isSupported)
    static let counts = [0, 1, 7, 8, 9, 15, 16, 17, 33, 1000]

    /// Round to nearest, ties to even, on the upper 16 bits; a NaN keeps its upper bits with the quiet bit set.
    static func naiveBits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let upper = bits >> 16
        if x.isNaN { return UInt16(upper | 0x40) }
        let lower = bits & 0xFFFF
        let up = lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1)
        return UInt16(truncatingIfNeeded: up ? upper &+ 1 : upper)
    }

    static func float(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    static func inputs(_ count: Int, offset: Int) -> [Float] {
        var g = SystemRandomNumberGenerator()
        return (0..<(count + offset)).map { i in
            i % 3 == 0
                ? WireRoundingTests.specials[i / 3 % WireRoundingTests.specials.count]
                : Float.random(in: -1e4...1e4, using: &g)
        }
    }

    static func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    @Test(arguments: variants)
    func encodeAndQuantizeMatchTheDefinition(isa: WireInstructionSet) {
        for count in Self.counts {
            for offset in [0, 1] {
                let x = Self.inputs(count, offset: offset)
                var out = [UInt16](repeating: 0xDEAD, count: count + offset)
                x.withUnsafeBufferPointer { src in
                    out.withUnsafeMutableBufferPointer { dst in
                        cohort_bf16_encode(isa.code, src.baseAddress! + offset, count, dst.baseAddress! + offset)
                    }
                }
                for i in offset..<(count + offset) {
                    #expect(out[i] == Self.naiveBits(x[i]), "\(isa) encode n=\(count) element \(i): \(x[i])")
                }
                var q = x
                q.withUnsafeMutableBufferPointer { cohort_bf16_quantize(isa.code, $0.baseAddress! + offset, count) }
                for i in offset..<(count + offset) {
                    #expect(Self.same(q[i], Self.float(Self.naiveBits(x[i]))), "\(isa) quantize n=\(count) element \(i)")
                }
            }
        }
    }

    @Test(arguments: variants)
    func decodeAndAccumulateMatchScalarFloatArithmetic(isa: WireInstructionSet) {
        for count in Self.counts {
            for offset in [0, 1] {
                let wire = Self.inputs(count, offset: offset).map(Self.naiveBits)
                let base = Self.inputs(count, offset: offset)
                var decoded = [Float](repeating: 7, count: count + offset)
                var summed = base
                var averaged = base
                wire.withUnsafeBufferPointer { w in
                    let src = w.baseAddress! + offset
                    decoded.withUnsafeMutableBufferPointer {
                        cohort_bf16_decode(isa.code, src, count, $0.baseAddress! + offset)
                    }
                    summed.withUnsafeMutableBufferPointer {
                        cohort_bf16_accumulate(isa.code, src, count, $0.baseAddress! + offset)
                    }
                    averaged.withUnsafeMutableBufferPointer {
                        cohort_bf16_accumulate_divide(isa.code, src, count, 3, $0.baseAddress! + offset)
                    }
                }
                for i in offset..<(count + offset) {
                    let w = Self.float(wire[i])
                    #expect(Self.same(decoded[i], w), "\(isa) decode n=\(count) element \(i)")
                    #expect(Self.same(summed[i], base[i] + w), "\(isa) accumulate n=\(count) element \(i)")
                    #expect(Self.same(averaged[i], (base[i] + w) / 3), "\(isa) accumulate/divide n=\(count) element \(i)")
                }
            }
        }
    }

    /// x = g + r; g ← bf16(x); r ← x − g: the residual holds exactly what the rounding dropped, and +0 where that is
    /// not finite (a NaN or infinite x must not be carried into the next step).
    @Test(arguments: variants)
    func roundingWithResidualKeepsWhatWasDropped(isa: WireInstructionSet) {
        for count in Self.counts {
            for offset in [0, 1] {
                let g0 = Self.inputs(count, offset: offset)
                let r0 = Self.inputs(count, offset: offset).map { $0.isFinite ? $0 * 1e-3 : 0 }
                var (g, r) = (g0, r0)
                g.withUnsafeMutableBufferPointer { gb in
                    r.withUnsafeMutableBufferPointer { rb in
                        cohort_bf16_round_with_residual(isa.code, gb.baseAddress! + offset, rb.baseAddress! + offset, count)
                    }
                }
                for i in offset..<(count + offset) {
                    let x = g0[i] + r0[i]
                    let q = Self.float(Self.naiveBits(x))
                    #expect(Self.same(g[i], q), "\(isa) rounded n=\(count) element \(i)")
                    let dropped = x - q
                    let kept: Float = dropped.isFinite ? dropped : 0
                    #expect(r[i].bitPattern == kept.bitPattern, "\(isa) residual n=\(count) element \(i): \(r[i])")
                }
                #expect(g[..<offset] == g0[..<offset] && r[..<offset] == r0[..<offset], "\(isa) wrote before the start")
            }
        }
    }

    /// The public face the reducers use agrees with the kernels, for each precision.
    @Test func wireRoundingWithResidualFollowsEachPrecision() {
        let g0: [Float] = [1.0009765625, -3.3, 1e-3, 65519.9]
        let r0: [Float] = [0.0001, 0.01, -1e-4, 0.05]
        for wire in WirePrecision.allCases {
            var (g, r) = (g0, r0)
            g.withUnsafeMutableBufferPointer { gb in r.withUnsafeMutableBufferPointer { wire.round(gb, keepingResidualIn: $0) } }
            for i in g0.indices {
                let x = g0[i] + r0[i]
                let q: Float
                switch wire {
                case .float32: q = x
                case .bfloat16: q = Self.float(Self.naiveBits(x))
                case .float16: q = Float(Float16(x))
                }
                #expect(g[i] == q && r[i] == x - q, "\(wire) element \(i): \(g[i]), \(r[i])")
            }
        }
    }

    /// fp16: every variant against Swift's `Float16` (IEEE round to nearest even), which is what the portable one
    /// computes; a NaN must stay a NaN (its payload may differ, and nothing reads it).
    @Test(arguments: variants)
    func fp16KernelsMatchSwiftFloat16(isa: WireInstructionSet) {
        let extra: [Float] = [65504, 65520, 65519.99, 6.1e-5, 5.96e-8, 2.98e-8, 1e-9, -3e-6, 0x1.002p0, 0x1.003p0]
        for count in Self.counts {
            for offset in [0, 1] {
                var x = Self.inputs(count, offset: offset)
                for i in stride(from: 1, to: x.count, by: 5) { x[i] = extra[i % extra.count] }
                var bits = [UInt16](repeating: 0, count: count + offset)
                var quantized = x
                let r0 = x.map { $0.isFinite ? $0 * 1e-4 : 0 }
                var (g, r) = (x, r0)
                x.withUnsafeBufferPointer { src in
                    bits.withUnsafeMutableBufferPointer {
                        cohort_f16_encode(isa.code, src.baseAddress! + offset, count, $0.baseAddress! + offset)
                    }
                }
                quantized.withUnsafeMutableBufferPointer { cohort_f16_quantize(isa.code, $0.baseAddress! + offset, count) }
                g.withUnsafeMutableBufferPointer { gb in
                    r.withUnsafeMutableBufferPointer { rb in
                        cohort_f16_round_with_residual(isa.code, gb.baseAddress! + offset, rb.baseAddress! + offset, count)
                    }
                }
                var decoded = [Float](repeating: 7, count: count + offset)
                var summed = r0
                bits.withUnsafeBufferPointer { w in
                    decoded.withUnsafeMutableBufferPointer {
                        cohort_f16_decode(isa.code, w.baseAddress! + offset, count, $0.baseAddress! + offset)
                    }
                    summed.withUnsafeMutableBufferPointer {
                        cohort_f16_accumulate(isa.code, w.baseAddress! + offset, count, $0.baseAddress! + offset)
                    }
                }
                for i in offset..<(count + offset) {
                    let h = Float16(x[i])
                    if x[i].isNaN {
                        #expect(Float16(bitPattern: bits[i]).isNaN && quantized[i].isNaN, "\(isa) fp16 NaN at \(i)")
                    } else {
                        #expect(bits[i] == h.bitPattern, "\(isa) fp16 encode n=\(count) element \(i): \(x[i])")
                        #expect(quantized[i].bitPattern == Float(h).bitPattern, "\(isa) fp16 quantize element \(i)")
                        #expect(decoded[i].bitPattern == Float(h).bitPattern, "\(isa) fp16 decode element \(i)")
                        #expect(summed[i].bitPattern == (r0[i] + Float(h)).bitPattern, "\(isa) fp16 accumulate element \(i)")
                    }
                    let y = x[i] + r0[i]
                    let q = Float(Float16(y))
                    let dropped = y - q
                    #expect(Self.same(g[i], q), "\(isa) fp16 rounded element \(i)")
                    #expect(r[i].bitPattern == (dropped.isFinite ? dropped : 0).bitPattern, "\(isa) fp16 residual element \(i)")
                }
            }
        }
    }
}
