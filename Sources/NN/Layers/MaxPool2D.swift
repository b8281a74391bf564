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
        if kernel == 2 && stride == 2 && output.width >= 4 { return maxPool2x2Row(x, y, idx) }
        for c in 0..<input.channels {
            for oh in 0..<output.height {
                for ow in 0..<output.width {
                    let base = c * input.positions + oh * stride * input.width + ow * stride
                    var best = base
                    var m = x[base]
                    // Selects, not branches: on real activations "is this the new maximum" is a coin flip, and
                    // mispredicted branches made this loop a fifth of a W3 training step.
                    for i in 0..<kernel {
                        for j in 0..<kernel {
                            let at = base + i * input.width + j
                            let v = x[at]
                            let take = v > m || m.isNaN
                            m = take ? v : m
                            best = take ? at : best
                        }
                    }
                    let o = (c * output.height + oh) * output.width + ow
                    y[o] = m
                    idx[o] = Int32(best)
                }
            }
        }
    }

    /// The common 2×2, stride 2 window, vectorised across output columns: 8 (or 4) outputs at once from two input
    /// rows split into even and odd columns, the running maximum and its offset kept with lane selects (the first
    /// maximum wins; a NaN is taken and then replaced, as in the scalar loop). A row's last vector overlaps the one
    /// before instead of a scalar tail (its outputs are written twice, equal).
    private func maxPool2x2Row(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>) {
        let (w, wo) = (input.width, output.width)
        for c in 0..<input.channels {
            for oh in 0..<output.height {
                let r0 = c * input.positions + 2 * oh * w
                let o0 = (c * output.height + oh) * wo
                if wo >= 8 {
                    var ow = 0
                    while true {
                        ow = min(ow, wo - 8)
                        let top = UnsafeRawPointer(x + r0 + 2 * ow).loadUnaligned(as: SIMD16<Float>.self)
                        let bottom = UnsafeRawPointer(x + r0 + w + 2 * ow).loadUnaligned(as: SIMD16<Float>.self)
                        var m = top.evenHalf
                        var off = SIMD8<Int32>(repeating: 0)
                        takeLarger(&m, &off, top.oddHalf, 1)
                        takeLarger(&m, &off, bottom.evenHalf, Int32(w))
                        takeLarger(&m, &off, bottom.oddHalf, Int32(w + 1))
                        UnsafeMutableRawPointer(y + o0 + ow).storeBytes(of: m, as: SIMD8<Float>.self)
                        let base = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14) &+ Int32(r0 + 2 * ow)
                        UnsafeMutableRawPointer(idx + o0 + ow).storeBytes(of: base &+ off, as: SIMD8<Int32>.self)
                        if ow + 8 >= wo { break }
                        ow += 8
                    }
                } else {
                    for ow in [0, wo - 4] {
                        let top = UnsafeRawPointer(x + r0 + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
                        let bottom = UnsafeRawPointer(x + r0 + w + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
                        var m = top.evenHalf
                        var off = SIMD4<Int32>(repeating: 0)
                        takeLarger(&m, &off, top.oddHalf, 1)
                        takeLarger(&m, &off, bottom.evenHalf, Int32(w))
                        takeLarger(&m, &off, bottom.oddHalf, Int32(w + 1))
                        UnsafeMutableRawPointer(y + o0 + ow).storeBytes(of: m, as: SIMD4<Float>.self)
                        let base = SIMD4<Int32>(0, 2, 4, 6) &+ Int32(r0 + 2 * ow)
                        UnsafeMutableRawPointer(idx + o0 + ow).storeBytes(of: base &+ off, as: SIMD4<Int32>.self)
                    }
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

/// Lanes where v beats the running maximum m (or m is NaN) take v and offset o: the scalar loop's rule, per lane.
@inline(__always) private func takeLarger(_ m: inout SIMD8<Float>, _ off: inout SIMD8<Int32>, _ v: SIMD8<Float>, _ o: Int32) {
    let take = (v .> m) .| (m .!= m)
    m.replace(with: v, where: take)
    off.replace(with: o, where: SIMDMask<SIMD8<Int32>>(take._storage))
}

@inline(__always) private func takeLarger(_ m: inout SIMD4<Float>, _ off: inout SIMD4<Int32>, _ v: SIMD4<Float>, _ o: Int32) {
    let take = (v .> m) .| (m .!= m)
    m.replace(with: v, where: take)
    off.replace(with: o, where: SIMDMask<SIMD4<Int32>>(take._storage))
}

/// The output shape of a k×k pooling window with a stride and no padding (rounding down).
func poolOutput(_ input: FeatureShape, kernel: Int, stride: Int) -> FeatureShape {
    FeatureShape(
        channels: input.channels,
        height: slidingOutputSize(input: input.height, kernel: kernel, stride: stride, padding: 0) ?? 0,
        width: slidingOutputSize(input: input.width, kernel: kernel, stride: stride, padding: 0) ?? 0)
}
