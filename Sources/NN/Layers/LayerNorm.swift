import Tensors

/// Layer normalisation (Ba et al.; PyTorch's `nn.LayerNorm(row width)`): each example (row) is normalised over all
/// its features, then scaled and shifted per feature:
///   μ = mean(x_row), σ² = mean((x_row − μ)²) (biased, as PyTorch), r = 1/√(σ² + eps)
///   x̂ = (x − μ)·r,  y = γ ⊙ x̂ + β
/// Parameters γ ("weight", starts at 1) then β ("bias", starts at 0), each [features]. It uses no batch statistics,
/// so training and evaluation compute the same thing and data-parallel replicas need nothing beyond the all-reduce.
/// Backward, with g = dy ⊙ γ:  ∂γ = Σ_rows dy ⊙ x̂,  ∂β = Σ_rows dy,  dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂)).
/// Row sums are accumulated in Double so a wide row of large values keeps its variance.
public final class LayerNorm: Layer {
    public let features: Int
    public let eps: Float
    /// [features]
    public private(set) var gain = Tensor(shape: [0])
    /// [features]
    public private(set) var bias = Tensor(shape: [0])
    public private(set) var gainGradient = Tensor(shape: [0])
    public private(set) var biasGradient = Tensor(shape: [0])

    private let outputBuffer = ReusableBuffer()
    /// x̂ of the last forward, [B, features]
    private let normalized = ReusableBuffer()
    /// r per row of the last forward, [B, 1]
    private let reciprocalStd = ReusableBuffer()
    private var lastBatch: Int?

    public init(features: Int, eps: Float = 1e-5) {
        precondition(features >= 1 && eps > 0, "LayerNorm needs features ≥ 1 and eps > 0, got \(features), \(eps)")
        self.features = features
        self.eps = eps
    }

    public var kind: String { "layernorm" }
    public var parameterCount: Int { 2 * features }
    public func outputFeatures(forInput n: Int) -> Int? { n == features ? n : nil }

    /// About 8 FLOPs per element forward (mean, variance, normalise, scale) and 10 backward.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double { Double(features) * 18 }

    public func bind(parameters: Tensor, gradients: Tensor) {
        precondition(parameters.count == parameterCount && gradients.count == parameterCount)
        gain = slice(parameters, 0..<features)
        bias = slice(parameters, features..<(2 * features))
        gainGradient = slice(gradients, 0..<features)
        biasGradient = slice(gradients, features..<(2 * features))
    }

    /// PyTorch's state_dict names: "weight" (γ) and "bias" (β).
    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", gain), ("bias", bias)] }

    public func initialize(_ weights: Initializer, rng: inout Xoshiro256) {
        gain.pointer.update(repeating: 1, count: features)
        bias.zero()
    }

    // x: [B, F] → y: [B, F]; keeps x̂ [B, F] and r [B] for backward.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 2 && x.columns == features, "LayerNorm over \(features) features given input \(x.shape)")
        let batch = x.rows
        let y = outputBuffer.view(rows: batch, columns: features)
        let xhat = normalized.view(rows: batch, columns: features)
        let r = reciprocalStd.view(rows: batch, columns: 1)
        for b in 0..<batch {
            let row = x.pointer + b * features
            let (mean, variance) = meanAndVariance(row, count: features)
            let rs = Float(1 / (variance + Double(eps)).squareRoot())
            r[b] = rs
            let h = xhat.pointer + b * features
            let o = y.pointer + b * features
            let m = Float(mean)
            for j in 0..<features {
                h[j] = (row[j] - m) * rs
                o[j] = gain[j] * h[j] + bias[j]
            }
        }
        lastBatch = batch
        return y
    }

    // dy: [B, F] → dx: [B, F] (in dy's memory); ∂γ, ∂β [F] into the gradient slice.
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard let batch = lastBatch else { preconditionFailure("LayerNorm.backward before forward") }
        precondition(dy.rows == batch && dy.columns == features, "LayerNorm.backward given \(dy.shape)")
        let xhat = normalized.view(rows: batch, columns: features)
        let r = reciprocalStd.view(rows: batch, columns: 1)
        if !accumulate {
            gainGradient.zero()
            biasGradient.zero()
        }
        for b in 0..<batch {
            let d = dy.pointer + b * features
            let h = xhat.pointer + b * features
            var sumG = 0.0
            var sumGH = 0.0
            for j in 0..<features {
                gainGradient[j] += d[j] * h[j]
                biasGradient[j] += d[j]
                let g = Double(d[j] * gain[j])
                sumG += g
                sumGH += g * Double(h[j])
            }
            guard needInputGradient else { continue }
            let meanG = Float(sumG / Double(features))
            let meanGH = Float(sumGH / Double(features))
            let rs = r[b]
            for j in 0..<features { d[j] = rs * (d[j] * gain[j] - meanG - h[j] * meanGH) }
        }
        return needInputGradient ? dy : nil
    }
}

/// The mean and biased variance of `count` floats, two passes in Double.
func meanAndVariance(_ p: UnsafePointer<Float>, count: Int) -> (mean: Double, variance: Double) {
    var s = 0.0
    for i in 0..<count { s += Double(p[i]) }
    let mean = s / Double(count)
    var v = 0.0
    for i in 0..<count {
        let d = Double(p[i]) - mean
        v += d * d
    }
    return (mean, v / Double(count))
}
