import RealModule
import Tensors

/// Weight initialisers. Fan-in/fan-out follow PyTorch's convention for a Linear weight [out, in]:
/// fanIn = in, fanOut = out. The He/Kaiming variants use gain √2 (for ReLU), as `kaiming_*_(nonlinearity='relu')`.
public enum Initializer: Sendable, Equatable {
    /// U(low, high)
    case uniform(low: Float, high: Float)
    /// N(mean, std²)
    case normal(mean: Float, std: Float)
    /// U(−a, a), a = √(6 / (fanIn + fanOut))
    case xavierUniform
    /// N(0, 2 / (fanIn + fanOut))
    case xavierNormal
    /// U(−a, a), a = √(6 / fanIn)
    case heUniform
    /// N(0, 2 / fanIn)
    case heNormal
    /// Every element = value (biases).
    case constant(Float)

    /// Parses the names used in job specs: uniform | normal | xavier_uniform | xavier_normal | he_uniform | he_normal
    /// (also glorot_* and kaiming_*). `uniform`/`normal` use PyTorch-like small defaults: U(−0.05, 0.05), N(0, 0.01²).
    public init?(name: String) {
        switch name.lowercased() {
        case "uniform": self = .uniform(low: -0.05, high: 0.05)
        case "normal": self = .normal(mean: 0, std: 0.01)
        case "xavier_uniform", "glorot_uniform": self = .xavierUniform
        case "xavier_normal", "glorot_normal": self = .xavierNormal
        case "he_uniform", "kaiming_uniform": self = .heUniform
        case "he_normal", "kaiming_normal": self = .heNormal
        case "zeros", "zero": self = .constant(0)
        default: return nil
        }
    }

    public static let names = ["uniform", "normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal"]

    /// The mean and variance this initialiser draws from, for the given fans.
    public func moments(fanIn: Int, fanOut: Int) -> (mean: Double, variance: Double) {
        switch self {
        case .uniform(let lo, let hi): return (Double(lo + hi) / 2, Double(hi - lo) * Double(hi - lo) / 12)
        case .normal(let m, let s): return (Double(m), Double(s) * Double(s))
        case .xavierUniform, .xavierNormal: return (0, 2 / Double(fanIn + fanOut))
        case .heUniform, .heNormal: return (0, 2 / Double(fanIn))
        case .constant(let v): return (Double(v), 0)
        }
    }

    /// Fills `tensor` with draws from `rng`.
    public func fill(_ tensor: Tensor, fanIn: Int, fanOut: Int, rng: inout Xoshiro256) {
        let p = tensor.pointer
        let n = tensor.count
        switch self {
        case .constant(let v):
            tensor.fill(v)
        case .uniform(let lo, let hi):
            for i in 0..<n { p[i] = lo + (hi - lo) * rng.nextUnitFloat() }
        case .xavierUniform, .heUniform:
            let a = Float((3 * moments(fanIn: fanIn, fanOut: fanOut).variance).squareRoot())
            for i in 0..<n { p[i] = -a + 2 * a * rng.nextUnitFloat() }
        case .normal, .xavierNormal, .heNormal:
            let (mean, variance) = moments(fanIn: fanIn, fanOut: fanOut)
            let std = variance.squareRoot()
            for i in 0..<n { p[i] = Float(mean + std * rng.nextNormal()) }
        }
    }
}
