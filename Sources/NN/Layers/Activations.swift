import RealModule
import Tensors

/// Element-wise activations keep their output y (all three derivatives are cheapest from y) and compute the
/// input gradient in place in dy, which the caller hands over (see `Layer.backward`).

/// y = max(x, 0); dx = dy · [y > 0]
public final class ReLU: Layer {
    private let output = ReusableBuffer()
    private var y: Tensor?
    public init() {}
    public var kind: String { "relu" }
    public func outputFeatures(forInput n: Int) -> Int? { n }

    // x: [B, n] → y: [B, n]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let out = output.view(rows: x.rows, columns: x.columns)
        reluForward(x.pointer, out.pointer, x.count)
        y = out
        return out
    }

    // dy: [B, n] → dx: [B, n] (in dy's memory)
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let y else { preconditionFailure("ReLU.backward before forward") }
        precondition(dy.count == y.count, "ReLU.backward given \(dy.shape), forward was \(y.shape)")
        reluBackward(y.pointer, dy.pointer, dy.count)
        return dy
    }
}

/// y = 1 / (1 + e^−x); dx = dy · y · (1 − y)
public final class Sigmoid: Layer {
    private let output = ReusableBuffer()
    private var y: Tensor?
    public init() {}
    public var kind: String { "sigmoid" }
    public func outputFeatures(forInput n: Int) -> Int? { n }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let out = output.view(rows: x.rows, columns: x.columns)
        let xp = x.pointer
        let yp = out.pointer
        for i in 0..<x.count { yp[i] = 1 / (1 + Float.exp(-xp[i])) }
        y = out
        return out
    }

    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let y else { preconditionFailure("Sigmoid.backward before forward") }
        precondition(dy.count == y.count, "Sigmoid.backward given \(dy.shape), forward was \(y.shape)")
        let yp = y.pointer
        let dp = dy.pointer
        for i in 0..<dy.count { dp[i] *= yp[i] * (1 - yp[i]) }
        return dy
    }
}

/// y = tanh x; dx = dy · (1 − y²)
public final class Tanh: Layer {
    private let output = ReusableBuffer()
    private var y: Tensor?
    public init() {}
    public var kind: String { "tanh" }
    public func outputFeatures(forInput n: Int) -> Int? { n }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let out = output.view(rows: x.rows, columns: x.columns)
        let xp = x.pointer
        let yp = out.pointer
        for i in 0..<x.count { yp[i] = Float.tanh(xp[i]) }
        y = out
        return out
    }

    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let y else { preconditionFailure("Tanh.backward before forward") }
        precondition(dy.count == y.count, "Tanh.backward given \(dy.shape), forward was \(y.shape)")
        let yp = y.pointer
        let dp = dy.pointer
        for i in 0..<dy.count { dp[i] *= 1 - yp[i] * yp[i] }
        return dy
    }
}

/// Row-wise softmax y_j = e^{x_j − max x} / Σ_k e^{x_k − max x}; dx = y ⊙ (dy − ⟨dy, y⟩) per row.
/// For training a classifier, prefer `SoftmaxCrossEntropy` on the logits: it is fused, cheaper and stable.
public final class Softmax: Layer {
    private let output = ReusableBuffer()
    private var y: Tensor?
    public init() {}
    public var kind: String { "softmax" }
    public func outputFeatures(forInput n: Int) -> Int? { n }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let out = output.view(rows: x.rows, columns: x.columns)
        softmaxRows(x, into: out)
        y = out
        return out
    }

    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let y else { preconditionFailure("Softmax.backward before forward") }
        precondition(dy.count == y.count, "Softmax.backward given \(dy.shape), forward was \(y.shape)")
        let n = y.columns
        for r in 0..<y.rows {
            let yp = y.pointer + r * n
            let dp = dy.pointer + r * n
            var s: Float = 0
            for j in 0..<n { s = Relaxed.multiplyAdd(dp[j], yp[j], s) }
            for j in 0..<n { dp[j] = yp[j] * (dp[j] - s) }
        }
        return dy
    }
}

/// Row-wise numerically stable softmax (shared by `Softmax` and `SoftmaxCrossEntropy`).
func softmaxRows(_ x: Tensor, into y: Tensor) {
    let n = x.columns
    for r in 0..<x.rows {
        let xp = x.pointer + r * n
        let yp = y.pointer + r * n
        let m = maxElement(xp, n)
        let inv = 1 / expShifted(xp, into: yp, count: n, shift: m)
        for j in 0..<n { yp[j] *= inv }
    }
}

/// The activation functions a job spec can name.
public enum Activation: String, Sendable, CaseIterable, Codable {
    case relu, sigmoid, tanh, gelu

    public func makeLayer() -> Layer {
        switch self {
        case .relu: return ReLU()
        case .sigmoid: return Sigmoid()
        case .tanh: return Tanh()
        case .gelu: return GELU()
        }
    }
}
