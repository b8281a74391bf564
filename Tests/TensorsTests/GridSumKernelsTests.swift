import Tensors
import Testing

/// The exact-sum loops against the plain Int64 reference they replace: bit for bit, for negative values, ties,
/// values past the clamp, and tails shorter than a vector.
@Suite struct GridSumKernelsTests {
    static func values(_ count: Int) -> [Float] {
        var rng = SplitMix64(seed: 7)
        return (0..<count).map { i in
            let u = Float(Double(rng.next() >> 11) / Double(1 << 53)) * 2 - 1
            return i % 13 == 0 ? Float(i % 5) * 0.5 - 1 : u * Float(1 << (i % 9))  // halves: ties on a coarse grid
        }
    }

    @Test(arguments: [1, 15, 16, 37, 1000])
    func encodeAndDecodeEqualTheInt64Reference(count: Int) {
        let x = Self.values(count)
        for (bits, exponent) in [(23, -20), (17, -10), (17, -30), (23, 0)] {  // (17, -30) clamps
            let limit = Double(sign: .plus, exponent: 2 * bits - 1, significand: 1) - 1
            let scale = Double(sign: .plus, exponent: -exponent, significand: 1)
            var low = [Float](repeating: 0.25, count: count)  // accumulates onto what is there
            var high = [Float](repeating: -3, count: count)
            low.withUnsafeMutableBufferPointer { l in
                high.withUnsafeMutableBufferPointer { h in
                    GridSumKernels.encode(
                        x, count: count, scale: scale, pieceBits: bits, limit: limit, low: l.baseAddress!,
                        high: h.baseAddress!)
                }
            }
            for i in 0..<count {
                let y = (Double(x[i]) * scale).rounded(.toNearestOrEven)
                let v = Int64(min(max(y, -limit), limit))
                #expect(low[i] == 0.25 + Float(v & ((1 << Int64(bits)) - 1)), "low \(i) of \(x[i]), b \(bits)")
                #expect(high[i] == -3 + Float(v >> Int64(bits)), "high \(i) of \(x[i]), b \(bits)")
            }
            var out = [Float](repeating: 0, count: count)
            GridSumKernels.decode(
                low: low, high: high, count: count, pieceBits: bits, scale: 1 / scale, into: &out)
            for i in 0..<count {
                let expected = Float((Double(high[i]) * Double(1 << Int64(bits)) + Double(low[i])) / scale)
                #expect(out[i] == expected, "decode \(i)")
            }
        }
    }

    @Test func decodeRefusesSumsOutsideExactRange() {
        var out: [Float] = [0, 0]
        GridSumKernels.decode(low: [0x1p24, 1], high: [0, -0x1p24], count: 2, pieceBits: 20, scale: 1, into: &out)
        #expect(out[0].isNaN && out[1].isNaN)
    }

    @Test(arguments: [3, 16, 35])
    func maxMagnitudeFlagsNonFiniteValues(count: Int) {
        var x = Self.values(count)
        let expected = x.map { abs($0) }.max() ?? 0
        #expect(GridSumKernels.maxMagnitude(x, count: count) == expected)
        for bad in [Float.infinity, -.infinity, .nan] {
            x[count - 1] = bad
            #expect(GridSumKernels.maxMagnitude(x, count: count) == .infinity)
            x[0] = bad
            x[count - 1] = 0
            #expect(GridSumKernels.maxMagnitude(x, count: count) == .infinity)
            x[0] = 1
        }
    }
}
