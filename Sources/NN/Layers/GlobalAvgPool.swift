import Tensors

/// The mean of each channel over all positions: [B, C·H·W] (NCHW rows) → [B, C], as PyTorch's
/// `nn.AdaptiveAvgPool2d(1)` followed by a flatten.
public final class GlobalAvgPool: Layer {
    public let input: FeatureShape
    private let outputBuffer = ReusableBuffer()
    private let inputGradient = ReusableBuffer()
    private var lastBatch: Int?

    public init(input: FeatureShape) {
        precondition(input.count > 0, "GlobalAvgPool on an empty input \(input)")
        self.input = input
    }

    public var kind: String { "globalavgpool" }
    public var output: FeatureShape { FeatureShape(flat: input.channels) }
    public func outputFeatures(forInput n: Int) -> Int? { n == input.count ? input.channels : nil }

    /// One addition per input element forward, one per input element backward.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double { Double(input.count * 2) }

    // x: [B, C·H·W] → y: [B, C]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.columns == input.count, "GlobalAvgPool on \(input) given input \(x.shape)")
        let batch = x.rows
        let y = outputBuffer.view(rows: batch, columns: input.channels)
        let p = input.positions
        let scale = 1 / Float(p)
        for r in 0..<(batch * input.channels) {
            let s = x.pointer + r * p
            var acc: Float = 0
            for i in 0..<p { acc += s[i] }
            y.pointer[r] = acc * scale
        }
        lastBatch = batch
        return y
    }

    // dy: [B, C] → dx: [B, C·H·W]
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let batch = lastBatch else { preconditionFailure("GlobalAvgPool.backward before forward") }
        precondition(dy.rows == batch && dy.columns == input.channels, "GlobalAvgPool.backward given \(dy.shape)")
        let dx = inputGradient.view(rows: batch, columns: input.count)
        let p = input.positions
        let scale = 1 / Float(p)
        for r in 0..<(batch * input.channels) {
            (dx.pointer + r * p).update(repeating: dy.pointer[r] * scale, count: p)
        }
        return dx
    }
}
