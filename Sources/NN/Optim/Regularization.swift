import Tensors

/// Penalties and clipping applied to the flat gradient before the optimizer step (coupled regularisation;
/// AdamW's decoupled decay is in `Adam`).
///  - L2 (λ₂): g += λ₂·w   (the gradient of λ₂/2·‖w‖², PyTorch's `weight_decay`)
///  - L1 (λ₁): g += λ₁·sign(w)
///  - clipping: if ‖g‖₂ > maxNorm, g ← g·maxNorm/‖g‖₂ (`clip_grad_norm_`), after the penalties.
public struct Regularization: Sendable, Equatable {
    public var l1: Float
    public var l2: Float
    public var clipNorm: Float?

    public init(l1: Float = 0, l2: Float = 0, clipNorm: Float? = nil) {
        self.l1 = l1
        self.l2 = l2
        self.clipNorm = clipNorm
    }

    /// Adds the penalties' gradients, then clips. Returns the gradient's global norm before clipping
    /// (0 when no clipping is configured, to save the pass).
    @discardableResult
    public func apply(parameters: Tensor, gradients: Tensor) -> Float {
        let n = gradients.count
        let w = parameters.pointer
        let g = gradients.pointer
        if l2 != 0 {
            let l = l2
            for i in 0..<n { g[i] += l * w[i] }
        }
        if l1 != 0 {
            let l = l1
            for i in 0..<n { g[i] += w[i] > 0 ? l : (w[i] < 0 ? -l : 0) }
        }
        guard let maxNorm = clipNorm else { return 0 }
        return clipGlobalNorm(gradients, maxNorm: maxNorm)
    }

    /// The regularisation term added to the loss (for reporting): λ₁‖w‖₁ + λ₂/2‖w‖².
    public func penalty(parameters: Tensor) -> Float {
        guard l1 != 0 || l2 != 0 else { return 0 }
        let w = parameters.pointer
        var abs1: Double = 0
        for i in 0..<parameters.count { abs1 += Double(Swift.abs(w[i])) }
        return Float(Double(l1) * abs1) + l2 / 2 * parameters.squaredNorm()
    }
}

/// Scales `gradients` so that their global L2 norm is at most `maxNorm`; returns the norm before scaling.
@discardableResult
public func clipGlobalNorm(_ gradients: Tensor, maxNorm: Float) -> Float {
    let norm = gradients.squaredNorm().squareRoot()
    if norm > maxNorm && norm > 0 { gradients.scale(maxNorm / norm) }
    return norm
}
