import Tensors

/// Inverted dropout: in training each element is zeroed with probability p and the survivors scaled by 1/(1−p),
/// so evaluation is the identity and expected activations match. The mask stream is seeded; its generator state is
/// public so a checkpoint can resume it.
public final class Dropout: Layer {
    public let probability: Float
    public var rng: Xoshiro256
    private let output = ReusableBuffer()
    private let maskBuffer = ReusableBuffer()
    private var mask: Tensor?

    public init(_ probability: Float, seed: UInt64 = 0) {
        precondition(probability >= 0 && probability < 1, "Dropout probability \(probability) must be in [0, 1)")
        self.probability = probability
        self.rng = Xoshiro256(seed: seed)
    }

    public var kind: String { "dropout" }
    public func outputFeatures(forInput n: Int) -> Int? { n }

    // x: [B, n] → y: [B, n]; evaluation returns x itself.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training && probability > 0 else {
            mask = nil
            return x
        }
        let m = maskBuffer.view(rows: x.rows, columns: x.columns)
        let y = output.view(rows: x.rows, columns: x.columns)
        let keep = 1 / (1 - probability)
        let mp = m.pointer
        let xp = x.pointer
        let yp = y.pointer
        for i in 0..<x.count {
            mp[i] = rng.nextUnitFloat() >= probability ? keep : 0
            yp[i] = xp[i] * mp[i]
        }
        mask = m
        return y
    }

    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let m = mask else { return dy }  // evaluation mode or p = 0: identity
        precondition(dy.count == m.count, "Dropout.backward given \(dy.shape), forward was \(m.shape)")
        dy.multiply(m)
        return dy
    }
}
