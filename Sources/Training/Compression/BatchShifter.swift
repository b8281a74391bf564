import NN
import Tensors

/// Random translations of a batch's square single-channel images, each row by its own (dy, dx) in
/// [−shift, shift]², the pixels that enter from outside taking the nearest edge pixel's value (an image's border is
/// its background, standardised or not). For distillation's function matching: the teacher labels the shifted
/// image itself, so the student sees more of the teacher's function than the training set's points. Seeded, so a
/// run repeats exactly.
public struct BatchShifter {
    public let side: Int
    public let shift: Int
    private var rng: Xoshiro256
    private let buffer = ReusableBuffer()

    /// `side` × `side` images of one channel; `shift` ≥ 1 pixels at most in each direction.
    public init(side: Int, shift: Int, seed: UInt64) {
        self.side = side
        self.shift = shift
        rng = Xoshiro256(seed: seed ^ 0x7368_6966_74)
    }

    /// The shifted rows, in a buffer of this shifter's (`x` has side² columns).
    public mutating func shifted(_ x: Tensor) -> Tensor {
        let out = buffer.view(rows: x.rows, columns: x.columns)
        let span = UInt64(2 * shift + 1)
        for r in 0..<x.rows {
            let dy = Int(rng.next() % span) - shift
            let dx = Int(rng.next() % span) - shift
            translate(x.pointer + r * x.columns, into: out.pointer + r * x.columns, dy: dy, dx: dx)
        }
        return out
    }

    /// out[i, j] = image[clamp(i − dy), clamp(j − dx)].
    private func translate(_ image: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, dy: Int, dx: Int) {
        let last = side - 1
        for i in 0..<side {
            let source = image + min(max(i - dy, 0), last) * side
            let row = out + i * side
            for j in 0..<side { row[j] = source[min(max(j - dx, 0), last)] }
        }
    }

    /// The side of a square image of `features` pixels, or nil when `features` is not a square.
    public static func side(ofSquare features: Int) -> Int? {
        let s = Int(Double(features).squareRoot().rounded())
        return s > 0 && s * s == features ? s : nil
    }
}
