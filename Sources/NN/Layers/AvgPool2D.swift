import Tensors

/// Average pooling over k×k windows with a stride (default k) and no padding, per channel of NCHW rows (PyTorch's
/// `nn.AvgPool2d(k, stride)`, rounding the output size down). Backward spreads each output gradient over its window
/// divided by k².
public final class AvgPool2D: Layer {
    public let input: FeatureShape
    public let output: FeatureShape
    public let kernel: Int
    public let stride: Int
    private let outputBuffer = ReusableBuffer()
    private let inputGradient = ReusableBuffer()
    private var lastBatch: Int?

    public init(input: FeatureShape, kernel: Int, stride: Int? = nil) {
        let s = stride ?? kernel
        if let p = MaxPool2D.problem(input: input, kernel: kernel, stride: s) {
            preconditionFailure("AvgPool2D on \(input): \(p.key) \(p.message)")
        }
        self.input = input
        self.kernel = kernel
        self.stride = s
        output = poolOutput(input, kernel: kernel, stride: s)
    }

    public var kind: String { "avgpool" }
    public func outputFeatures(forInput n: Int) -> Int? { n == input.count ? output.count : nil }

    /// k² additions per output forward and k² backward.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double {
        Double(output.count * kernel * kernel * 2)
    }

    /// Calls body(output index, input index of the window's top-left corner) for every output of one example.
    @inline(__always) private func windows(_ body: (Int, Int) -> Void) {
        for c in 0..<input.channels {
            for oh in 0..<output.height {
                for ow in 0..<output.width {
                    body(
                        (c * output.height + oh) * output.width + ow,
                        c * input.positions + oh * stride * input.width + ow * stride)
                }
            }
        }
    }

    // x: [B, C·H·W] → y: [B, C·Ho·Wo]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.columns == input.count, "AvgPool2D on \(input) given input \(x.shape)")
        let batch = x.rows
        let y = outputBuffer.view(rows: batch, columns: output.count)
        let scale = 1 / Float(kernel * kernel)
        for b in 0..<batch {
            let xr = x.pointer + b * input.count
            let yr = y.pointer + b * output.count
            windows { o, base in
                var s: Float = 0
                for i in 0..<kernel { for j in 0..<kernel { s += xr[base + i * input.width + j] } }
                yr[o] = s * scale
            }
        }
        lastBatch = batch
        return y
    }

    // dy: [B, C·Ho·Wo] → dx: [B, C·H·W]
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let batch = lastBatch else { preconditionFailure("AvgPool2D.backward before forward") }
        precondition(dy.rows == batch && dy.columns == output.count, "AvgPool2D.backward given \(dy.shape)")
        let dx = inputGradient.view(rows: batch, columns: input.count)
        dx.zero()
        let scale = 1 / Float(kernel * kernel)
        for b in 0..<batch {
            let d = dx.pointer + b * input.count
            let g = dy.pointer + b * output.count
            windows { o, base in
                let v = g[o] * scale
                for i in 0..<kernel { for j in 0..<kernel { d[base + i * input.width + j] += v } }
            }
        }
        return dx
    }
}
