import Collectives
import Testing

/// The vectorised bf16 rounding against a naive reference written from the definition (round to nearest, ties to
/// even, on the upper 16 bits; NaN stays NaN), over every lane position and the scalar tail.
@Suite struct WireRoundingTests {
    static func naiveBF16(_ x: Float) -> Float {
        if x.isNaN { return x }
        let bits = x.bitPattern
        let upper = bits >> 16
        let lower = bits & 0xFFFF
        let up = lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1)
        return Float(bitPattern: (up ? upper &+ 1 : upper) << 16)
    }

    static let specials: [Float] = [
        0, -0, 1, -1, .infinity, -.infinity, .nan, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        .leastNonzeroMagnitude, .leastNormalMagnitude, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
        Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x3F80_7FFF), Float(bitPattern: 0x7F7F_FFFF), 3.14159, -2.71828,
    ]

    @Test(arguments: [0, 1, 15, 16, 17, 37, 1000])
    func bf16RoundingMatchesTheDefinition(count: Int) {
        var g = SystemRandomNumberGenerator()
        var values = (0..<count).map { i in
            i % 3 == 0 ? Self.specials[i / 3 % Self.specials.count] : Float.random(in: -1e6...1e6, using: &g)
        }
        let expected = values.map(Self.naiveBF16)
        values.withUnsafeMutableBufferPointer { WirePrecision.bfloat16.round($0) }
        for (i, (got, want)) in zip(values, expected).enumerated() {
            #expect(got.bitPattern == want.bitPattern || (got.isNaN && want.isNaN), "element \(i): \(got) vs \(want)")
        }
    }
}
