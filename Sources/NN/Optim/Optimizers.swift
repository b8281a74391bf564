import RealModule
import Tensors

// The update rules follow PyTorch's torch.optim definitions, so hyperparameters carry over.
// L2 regularisation and clipping live in `Regularization` (applied to the gradients before `update`);
// AdamW's decay is the decoupled kind, applied to the weights inside its update.

/// w ← w − lr·g
public final class SGD: SlotOptimizer {
    public init(learningRate: Float) { super.init(name: "sgd", learningRate: learningRate, slotNames: []) }
    public override func apply(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
        _ slots: [UnsafeMutablePointer<Float>], _ n: Int
    ) {
        sgdUpdate(w, g, n, lr: learningRate)
    }
}

/// Heavy-ball momentum: v ← μ·v + g; w ← w − lr·v. With `nesterov`: w ← w − lr·(g + μ·v).
public final class Momentum: SlotOptimizer {
    public let momentum: Float
    public let nesterov: Bool
    public init(learningRate: Float, momentum: Float = 0.9, nesterov: Bool = false) {
        self.momentum = momentum
        self.nesterov = nesterov
        super.init(name: nesterov ? "nesterov" : "momentum", learningRate: learningRate, slotNames: ["momentum"])
    }
    public override func apply(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
        _ slots: [UnsafeMutablePointer<Float>], _ n: Int
    ) {
        momentumUpdate(w, g, slots[0], n, lr: learningRate, mu: momentum, nesterov: nesterov)
    }
}

/// s ← s + g²; w ← w − lr·g/(√s + ε)
public final class Adagrad: SlotOptimizer {
    public let epsilon: Float
    public init(learningRate: Float, epsilon: Float = 1e-10) {
        self.epsilon = epsilon
        super.init(name: "adagrad", learningRate: learningRate, slotNames: ["sum_squares"])
    }
    public override func apply(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
        _ slots: [UnsafeMutablePointer<Float>], _ n: Int
    ) {
        let s = slots[0]
        let lr = learningRate
        let eps = epsilon
        for i in 0..<n {
            let si = s[i] + g[i] * g[i]
            s[i] = si
            w[i] -= lr * g[i] / (si.squareRoot() + eps)
        }
    }
}

/// s ← α·s + (1−α)·g²; w ← w − lr·g/(√s + ε)
public final class RMSProp: SlotOptimizer {
    public let alpha: Float
    public let epsilon: Float
    public init(learningRate: Float, alpha: Float = 0.99, epsilon: Float = 1e-8) {
        self.alpha = alpha
        self.epsilon = epsilon
        super.init(name: "rmsprop", learningRate: learningRate, slotNames: ["square_avg"])
    }
    public override func apply(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
        _ slots: [UnsafeMutablePointer<Float>], _ n: Int
    ) {
        let s = slots[0]
        let lr = learningRate
        let a = alpha
        let eps = epsilon
        for i in 0..<n {
            let si = a * s[i] + (1 - a) * g[i] * g[i]
            s[i] = si
            w[i] -= lr * g[i] / (si.squareRoot() + eps)
        }
    }
}

/// Adam with bias correction: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
/// w ← w − lr·m̂/(√v̂ + ε), m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ).
/// AdamW (`decoupledWeightDecay` > 0): first w ← w·(1 − lr·λ), then the Adam step.
public final class Adam: SlotOptimizer {
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let decoupledWeightDecay: Float

    public init(
        learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        decoupledWeightDecay: Float = 0, name: String? = nil
    ) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.decoupledWeightDecay = decoupledWeightDecay
        super.init(
            name: name ?? (decoupledWeightDecay > 0 ? "adamw" : "adam"), learningRate: learningRate,
            slotNames: ["m", "v"])
    }

    /// AdamW as PyTorch defines it (default λ = 0.01).
    public static func adamW(
        learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0.01
    ) -> Adam {
        Adam(
            learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
            decoupledWeightDecay: weightDecay, name: "adamw")
    }

    public override func apply(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
        _ slots: [UnsafeMutablePointer<Float>], _ n: Int
    ) {
        let m = slots[0]
        let v = slots[1]
        let t = Double(step)
        let c1 = Float(1 - Double.pow(Double(beta1), t))
        let c2 = Float(1 - Double.pow(Double(beta2), t))
        let lr = learningRate
        let b1 = beta1
        let b2 = beta2
        let eps = epsilon
        let stepSize = lr / c1
        let invSqrtC2 = 1 / c2.squareRoot()
        let decay = 1 - lr * decoupledWeightDecay
        for i in 0..<n {
            let gi = g[i]
            let mi = b1 * m[i] + (1 - b1) * gi
            let vi = b2 * v[i] + (1 - b2) * gi * gi
            m[i] = mi
            v[i] = vi
            w[i] = w[i] * decay - stepSize * mi / (vi.squareRoot() * invSqrtC2 + eps)
        }
    }
}

/// Builds an optimizer by the name a job spec uses.
public func makeOptimizer(
    name: String, learningRate: Float, momentum: Float = 0.9, beta1: Float = 0.9,
    beta2: Float = 0.999, epsilon: Float? = nil, weightDecay: Float = 0
) throws -> Optimizer {
    switch name.lowercased() {
    case "sgd": return SGD(learningRate: learningRate)
    case "momentum": return Momentum(learningRate: learningRate, momentum: momentum)
    case "nesterov": return Momentum(learningRate: learningRate, momentum: momentum, nesterov: true)
    case "adagrad": return Adagrad(learningRate: learningRate, epsilon: epsilon ?? 1e-10)
    case "rmsprop": return RMSProp(learningRate: learningRate, epsilon: epsilon ?? 1e-8)
    case "adam": return Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon ?? 1e-8, name: "adam")
    case "adamw":
        return Adam.adamW(
            learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon ?? 1e-8,
            weightDecay: weightDecay)
    default: throw OptimizerError.unknown(name)
    }
}
