import RealModule
import Tensors

/// The exact GELU (PyTorch's default `nn.GELU()`): y = x·Φ(x) with Φ the standard normal CDF,
/// Φ(x) = (1 + erf(x/√2)) / 2; dx = dy · (Φ(x) + x·φ(x)), φ(x) = e^{−x²/2}/√(2π). Keeps a reference to its input x (the
/// derivative is not a function of y alone), which stays valid until backward as every layer's output does.
public final class GELU: Layer {
    private let output = ReusableBuffer()
    private var x: Tensor?
    public init() {}
    public var kind: String { "gelu" }
    public func outputFeatures(forInput n: Int) -> Int? { n }

    /// erf and exp cost tens of FLOPs each: about 20 per element forward and 30 backward.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double { Double(inputFeatures) * 50 }

    // x: [B, n] → y: [B, n]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let out = output.view(rows: x.rows, columns: x.columns)
        let xp = x.pointer
        let yp = out.pointer
        for i in 0..<x.count { yp[i] = xp[i] * 0.5 * (1 + Float.erf(xp[i] * 0.70710678)) }
        self.x = x
        return out
    }

    // dy: [B, n] → dx: [B, n] (in dy's memory)
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let x else { preconditionFailure("GELU.backward before forward") }
        precondition(dy.count == x.count, "GELU.backward given \(dy.shape), forward was \(x.shape)")
        let xp = x.pointer
        let dp = dy.pointer
        for i in 0..<dy.count {
            let v = xp[i]
            let cdf = 0.5 * (1 + Float.erf(v * 0.70710678))
            let pdf = Float.exp(-0.5 * v * v) * 0.39894228
            dp[i] *= cdf + v * pdf
        }
        return dy
    }
}
