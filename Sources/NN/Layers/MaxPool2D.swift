import Tensors

/// Max pooling over k×k windows with a stride (default k) and no padding, per channel of NCHW rows (PyTorch's
/// `nn.MaxPool2d(k, stride)`: the output size rounds down, so trailing rows and columns that fit no window are
/// dropped). Backward routes each output gradient to the first maximum of its window, as PyTorch does.
public final class MaxPool2D: Layer {
    public let input: FeatureShape
    public let output: FeatureShape
    public let kernel: Int
    public let stride: Int
    private let outputBuffer = ReusableBuffer()
    private let inputGradient = ReusableBuffer()
    /// For each output element of the last forward, the index of its maximum within the example's input row.
    private var argmax: [Int32] = []
    private var lastBatch: Int?

    /// Why a pooling window cannot be built, as (setting, reason), or nil (shared by the other pooling layers).
    public static func problem(input: FeatureShape, kernel: Int, stride: Int) -> (key: String, message: String)? {
        if kernel < 1 { return ("kernel", "must be ≥ 1, got \(kernel)") }
        if stride < 1 { return ("stride", "must be ≥ 1, got \(stride)") }
        if kernel > input.height || kernel > input.width {
            return ("kernel", "\(kernel)×\(kernel) is larger than the input \(input)")
        }
        return nil
    }

    public init(input: FeatureShape, kernel: Int, stride: Int? = nil) {
        let s = stride ?? kernel
        if let p = Self.problem(input: input, kernel: kernel, stride: s) {
            preconditionFailure("MaxPool2D on \(input): \(p.key) \(p.message)")
        }
        self.input = input
        self.kernel = kernel
        self.stride = s
        output = poolOutput(input, kernel: kernel, stride: s)
    }

    public var kind: String { "maxpool" }
    public func outputFeatures(forInput n: Int) -> Int? { n == input.count ? output.count : nil }

    /// k² comparisons per output forward, one scatter per output backward.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double {
        Double(output.count * (kernel * kernel + 1))
    }

    // x: [B, C·H·W] → y: [B, C·Ho·Wo]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.columns == input.count, "MaxPool2D on \(input) given input \(x.shape)")
        let batch = x.rows
        let y = outputBuffer.view(rows: batch, columns: output.count)
        if argmax.count < batch * output.count { argmax = [Int32](repeating: 0, count: batch * output.count) }
        argmax.withUnsafeMutableBufferPointer { idx in
            for b in 0..<batch {
                maxPoolRow(
                    x.pointer + b * input.count, y.pointer + b * output.count, idx.baseAddress! + b * output.count)
            }
        }
        lastBatch = batch
        return y
    }

    private func maxPoolRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>) {
        for c in 0..<input.channels {
            for oh in 0..<output.height {
                for ow in 0..<output.width {
                    let base = c * input.positions + oh * stride * input.width + ow * stride
                    var best = base
                    var m = x[base]
                    for i in 0..<kernel {
                        for j in 0..<kernel {
                            let at = base + i * input.width + j
                            if x[at] > m || m.isNaN {
                                m = x[at]
                                best = at
                            }
                        }
                    }
                    let o = (c * output.height + oh) * output.width + ow
                    y[o] = m
                    idx[o] = Int32(best)
                }
            }
        }
    }

    // dy: [B, C·Ho·Wo] → dx: [B, C·H·W]
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let batch = lastBatch else { preconditionFailure("MaxPool2D.backward before forward") }
        precondition(dy.rows == batch && dy.columns == output.count, "MaxPool2D.backward given \(dy.shape)")
        let dx = inputGradient.view(rows: batch, columns: input.count)
        dx.zero()
        argmax.withUnsafeBufferPointer { idx in
            for b in 0..<batch {
                let d = dx.pointer + b * input.count
                let g = dy.pointer + b * output.count
                let ix = idx.baseAddress! + b * output.count
                for o in 0..<output.count { d[Int(ix[o])] += g[o] }
            }
        }
        return dx
    }
}

/// The output shape of a k×k pooling window with a stride and no padding (rounding down).
func poolOutput(_ input: FeatureShape, kernel: Int, stride: Int) -> FeatureShape {
    FeatureShape(
        channels: input.channels,
        height: slidingOutputSize(input: input.height, kernel: kernel, stride: stride, padding: 0) ?? 0,
        width: slidingOutputSize(input: input.width, kernel: kernel, stride: stride, padding: 0) ?? 0)
}
