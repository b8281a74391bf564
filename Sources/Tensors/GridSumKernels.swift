/// The loops of elastic training's exact gradient sum (`DeterministicGradientSum` in Parallel), here because this
/// module is built -Ounchecked: written without integer conversions, short-circuits or library calls so that they
/// vectorise (the same loops with Int64 pieces ran scalar and cost about as much as W2's whole step).
public enum GridSumKernels {
    /// max |x| over `count` values, or +∞ when any is infinite or NaN. On the bit patterns without the sign:
    /// for non-negative floats their order is the integers' (and +∞ and every NaN lie at 0x7f800000 or above), and
    /// an integer max reduction vectorises where a float one (NaN-ordered) does not.
    public static func maxMagnitude(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var m: UInt32 = 0
        for i in 0..<count { m = Swift.max(m, x[i].bitPattern & 0x7fff_ffff) }
        return m >= 0x7f80_0000 ? .infinity : Float(bitPattern: m)
    }

    /// low[i] += v mod 2^b, high[i] += ⌊v / 2^b⌋ for v = x[i] · `scale` rounded to the nearest integer (ties to
    /// even) and clamped to ±`limit` (NaN → 0): the two pieces of an integer on the grid, each exact in fp32.
    /// `limit` < 2^51, so adding and removing 1.5 · 2^52 rounds; ⌊t⌋ of an integer-valued t / 2^b is its nearest
    /// integer, less one where that lies above t.
    public static func encode(
        _ x: UnsafePointer<Float>, count: Int, scale: Double, pieceBits: Int, limit: Double,
        low: UnsafeMutablePointer<Float>, high: UnsafeMutablePointer<Float>
    ) {
        let shift = 0x1.8p52
        let radix = Double(sign: .plus, exponent: pieceBits, significand: 1)
        let inverse = 1 / radix
        for i in 0..<count {
            let r = (Double(x[i]) * scale + shift) - shift
            let y = r != r ? 0 : Swift.min(Swift.max(r, -limit), limit)
            let t = y * inverse
            let n = (t + shift) - shift
            let h = n > t ? n - 1 : n
            low[i] += Float(y - h * radix)
            high[i] += Float(h)
        }
    }

    /// out[i] = (high[i] · 2^b + low[i]) · `scale`, or NaN where a sum is not below 2^24 (only a peer breaking the
    /// protocol sends such).
    public static func decode(
        low: UnsafePointer<Float>, high: UnsafePointer<Float>, count: Int, pieceBits: Int, scale: Double,
        into out: UnsafeMutablePointer<Float>
    ) {
        let radix = Double(sign: .plus, exponent: pieceBits, significand: 1)
        for i in 0..<count {
            let (l, h) = (low[i], high[i])
            let value = Float((Double(h) * radix + Double(l)) * scale)
            out[i] = Swift.max(abs(l), abs(h)) < 0x1p24 ? value : .nan
        }
    }
}
