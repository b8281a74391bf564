/// One seeded generator for the whole project (data order, synthetic sets, initialisers, dropout).
/// SplitMix64: tiny, seedable and stable across platforms and Swift versions (unlike the system generator), so a
/// seed means the same data order everywhere.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n without modulo bias (Lemire's method).
    public mutating func next(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func nextNormal() -> Double {
        var u1 = Double(next() >> 11) * 0x1p-53
        while u1 <= 0 { u1 = Double(next() >> 11) * 0x1p-53 }
        let u2 = Double(next() >> 11) * 0x1p-53
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// A seed derived from `base` and a stream index, e.g. (seed, epoch).
    public static func derive(_ base: UInt64, _ stream: UInt64) -> UInt64 {
        var sm = SplitMix64(seed: base ^ (stream &* 0xD1B5_4A32_D192_ED03))
        return sm.next()
    }
}
