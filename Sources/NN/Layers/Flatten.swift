import Tensors

/// [B, C·H·W] → [B, C·H·W]: the identity on rows, since every row is already its example's features in NCHW order
/// (PyTorch's `torch.flatten(x, 1)` order). It exists so that a model spec can say where the feature map ends.
public final class Flatten: Layer {
    public init() {}
    public var kind: String { "flatten" }
    public func outputFeatures(forInput n: Int) -> Int? { n }
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double { 0 }
    public func forward(_ x: Tensor, training: Bool) -> Tensor { x }
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        needInputGradient ? dy : nil
    }
}
