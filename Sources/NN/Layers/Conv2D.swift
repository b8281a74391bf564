import Tensors

/// A 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`) over rows that hold one NCHW example each
/// (see `FeatureShape` for why NCHW), with square kernels, stride, zero padding, dilation 1 and groups: depthwise is
/// `groups == channels`. Weight [out, in/groups, k, k] (PyTorch's orientation, stored as is) then bias [out].
///
/// Implemented as im2col plus the project's GEMM, on one of two paths:
/// - per example (groups = 1 and at least `perExampleMinPositions` output positions, e.g. W3's convolutions): with
///   K = in·k·k, Y_b[out, P] = W[out, K] · cols_b[K, P] IS example b's NCHW output, so the GEMM writes y directly (no
///   layout pass), and one example's columns (W3's second conv: 288 × 196 floats, 225 KB) stay in L2 between im2col
///   and the GEMM instead of a whole batch's (29 MB) going through memory. Backward recomputes cols_b from the kept
///   input (cheaper than storing the batch's columns):
///     ∂W (+)= Σ_b dY_b · cols_bᵀ (NT, accumulated over b);  dcols_b = Wᵀ · dY_b (TN);  dx_b = col2im(dcols_b).
/// - over the whole batch (grouped and depthwise convolutions, small maps), where a per-example GEMM would be too
///   small: the GEMM's n is batch × positions. With P = Ho·Wo, N = B·P, Kg = in/groups·k·k and Og = out/groups, for
///   each group g (a contiguous block of Kg rows of the column matrix and Og rows of W):
///   forward  cols[in·k·k, N] = im2col(x);   Yᵀ_g[Og, N] = W_g[Og, Kg] · cols_g[Kg, N]          (NN)
///            y[b, o, p] = Yᵀ[o, b·P + p] + bias[o]
///   backward dYᵀ[o, b·P + p] = dy[b, o, p];  dW_g[Og, Kg] = dYᵀ_g[Og, N] · cols_gᵀ[N, Kg]     (NT)
///            dcols_g[Kg, N] = W_gᵀ[Kg, Og] · dYᵀ_g[Og, N] (TN, into the column buffer);  dx = col2im(dcols)
public final class Conv2D: Layer {
    public let input: FeatureShape
    public let output: FeatureShape
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let groups: Int
    public var threads = 1
    /// [out, in/groups, k, k]
    public private(set) var weight = Tensor(shape: [0])
    /// [out]
    public private(set) var bias = Tensor(shape: [0])
    public private(set) var weightGradient = Tensor(shape: [0])
    public private(set) var biasGradient = Tensor(shape: [0])

    private let columnBuffer = ReusableBuffer()
    private let channelMajor = ReusableBuffer()
    private let outputBuffer = ReusableBuffer()
    private let inputGradientBuffer = ReusableBuffer()
    private var lastBatch: Int?
    /// The last forward's input (the per-example path recomputes its columns in backward; the layer before keeps it
    /// valid until its own next forward, as `Dense` relies on too) and the last backward's dy.
    private var lastInput: Tensor?
    private var lastGradient: Tensor?
    /// Whether `weightGradients` ran since the last forward (dyᵀ is in `channelMajor`).
    private var gradientReady = false

    /// Why a convolution with these settings cannot be built, as (setting, reason), or nil when it can. Config's
    /// validation reports the same reasons under the layer's key.
    public static func problem(
        input: FeatureShape, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    ) -> (key: String, message: String)? {
        if outChannels < 1 { return ("out", "must be ≥ 1, got \(outChannels)") }
        if kernel < 1 { return ("kernel", "must be ≥ 1, got \(kernel)") }
        if stride < 1 { return ("stride", "must be ≥ 1, got \(stride)") }
        if padding < 0 { return ("padding", "must be ≥ 0, got \(padding)") }
        if padding >= kernel { return ("padding", "must be smaller than the kernel \(kernel), got \(padding)") }
        if groups < 1 { return ("groups", "must be ≥ 1, got \(groups)") }
        if input.channels % groups != 0 || outChannels % groups != 0 {
            return ("groups", "\(groups) groups must divide the input channels \(input.channels) and out \(outChannels)")
        }
        if input.height + 2 * padding < kernel || input.width + 2 * padding < kernel {
            return ("kernel", "\(kernel)×\(kernel) is larger than the padded input \(input) (padding \(padding))")
        }
        return nil
    }

    public init(input: FeatureShape, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1) {
        if let p = Self.problem(
            input: input, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding, groups: groups)
        {
            preconditionFailure("Conv2D on \(input): \(p.key) \(p.message)")
        }
        self.input = input
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.groups = groups
        let h = slidingOutputSize(input: input.height, kernel: kernel, stride: stride, padding: padding) ?? 0
        let w = slidingOutputSize(input: input.width, kernel: kernel, stride: stride, padding: padding) ?? 0
        output = FeatureShape(channels: outChannels, height: h, width: w)
    }

    public var kind: String { "conv" }
    /// in/groups · k · k: one output's receptive field, the GEMM's k.
    public var groupPatch: Int { input.channels / groups * kernel * kernel }
    public var weightCount: Int { output.channels * groupPatch }
    public var parameterCount: Int { weightCount + output.channels }
    public func outputFeatures(forInput n: Int) -> Int? { n == input.count ? output.count : nil }

    /// Per example: 2·out·Kg·P multiply-adds forward, as many for ∂W and for ∂x when needed, plus the bias.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double {
        let product = 2 * Double(output.channels * groupPatch * output.positions)
        return product * (needInputGradient ? 3 : 2) + 2 * Double(output.count)
    }

    public func bind(parameters: Tensor, gradients: Tensor) {
        precondition(parameters.count == parameterCount && gradients.count == parameterCount)
        let k = weightCount
        let shape = [output.channels, input.channels / groups, kernel, kernel]
        weight = Tensor(storage: parameters.storage, offset: parameters.offset, shape: shape)
        bias = Tensor(storage: parameters.storage, offset: parameters.offset + k, shape: [output.channels])
        weightGradient = Tensor(storage: gradients.storage, offset: gradients.offset, shape: shape)
        biasGradient = Tensor(storage: gradients.storage, offset: gradients.offset + k, shape: [output.channels])
    }

    /// PyTorch's names and orientation already: "weight" [out, in/groups, k, k], "bias" [out].
    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", weight), ("bias", bias)] }

    /// PyTorch's fans: fan_in = in/groups·k·k, fan_out = out·k·k.
    public func initialize(_ weights: Initializer, rng: inout Xoshiro256) {
        weights.fill(weight, fanIn: groupPatch, fanOut: output.channels * kernel * kernel, rng: &rng)
        bias.zero()
    }

    /// Output positions from which a plain convolution runs one GEMM per example (n = positions).
    public static let perExampleMinPositions = 64
    /// Whether this layer takes the per-example path (see the type's comment).
    public var runsPerExample: Bool { groups == 1 && output.positions >= Self.perExampleMinPositions }

    private var window: ConvWindow {
        ConvWindow(input: input, output: output, kernel: kernel, stride: stride, padding: padding)
    }

    // x: [B, C·H·W] → y: [B, O·Ho·Wo]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.columns == input.count, "Conv2D on \(input) (\(input.count) features) given input \(x.shape)")
        lastBatch = x.rows
        lastInput = x
        gradientReady = false
        return runsPerExample ? forwardPerExample(x) : forwardBatched(x)
    }

    private func forwardPerExample(_ x: Tensor) -> Tensor {
        let (rows, positions) = (input.channels * kernel * kernel, output.positions)
        let cols = columnBuffer.view(rows: rows, columns: positions)
        let y = outputBuffer.view(rows: x.rows, columns: output.count)
        for b in 0..<x.rows {
            im2col(x.pointer + b * input.count, batch: 1, window, into: cols.pointer)
            let yb = y.pointer + b * output.count
            sgemm(
                transA: .none, transB: .none, m: output.channels, n: positions, k: rows, alpha: 1, a: weight.pointer,
                lda: rows, b: cols.pointer, ldb: positions, beta: 0, c: yb, ldc: positions, threads: threads)
            for o in 0..<output.channels {
                let row = yb + o * positions
                let v = bias[o]
                for p in 0..<positions { row[p] += v }
            }
        }
        return y
    }

    private func forwardBatched(_ x: Tensor) -> Tensor {
        let batch = x.rows
        let n = batch * output.positions
        let cols = columnBuffer.view(rows: input.channels * kernel * kernel, columns: n)
        im2col(x.pointer, batch: batch, window, into: cols.pointer)
        let yT = channelMajor.view(rows: output.channels, columns: n)
        let og = output.channels / groups
        let kg = groupPatch
        for g in 0..<groups {
            sgemm(
                transA: .none, transB: .none, m: og, n: n, k: kg, alpha: 1,
                a: weight.pointer + g * og * kg, lda: kg, b: cols.pointer + g * kg * n, ldb: n,
                beta: 0, c: yT.pointer + g * og * n, ldc: n, threads: threads)
        }
        let y = outputBuffer.view(rows: batch, columns: output.count)
        scatterChannelMajor(
            yT.pointer, batch: batch, channels: output.channels, positions: output.positions, bias: bias.pointer, into: y.pointer)
        return y
    }

    // dy: [B, O·Ho·Wo] → dx: [B, C·H·W]; dW [O, C/g, k, k] and db [O] into the gradient slice.
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        weightGradients(dy, accumulate: accumulate)
        return needInputGradient ? inputGradient() : nil
    }

    /// Backward's first half: ∂W and ∂b of `dy` for the last forward (dy gathered channel-major, kept for
    /// `inputGradient`). Separate so that `cohort bench conv` can time each pass against its GEMM.
    public func weightGradients(_ dy: Tensor, accumulate: Bool) {
        guard let batch = lastBatch, let x = lastInput else { preconditionFailure("Conv2D.backward before forward") }
        precondition(dy.rows == batch && dy.columns == output.count, "Conv2D.backward given \(dy.shape)")
        lastGradient = dy
        gradientReady = true
        if runsPerExample {
            weightGradientsPerExample(x, dy, accumulate: accumulate)
        } else {
            weightGradientsBatched(dy, accumulate: accumulate)
        }
    }

    private func weightGradientsPerExample(_ x: Tensor, _ dy: Tensor, accumulate: Bool) {
        let (rows, positions) = (input.channels * kernel * kernel, output.positions)
        let cols = columnBuffer.view(rows: rows, columns: positions)
        for b in 0..<x.rows {
            let dyb = dy.pointer + b * output.count
            columnSums(
                transposedOf: dyb, rows: output.channels, cols: positions, into: biasGradient.pointer,
                accumulate: accumulate || b > 0)
            im2col(x.pointer + b * input.count, batch: 1, window, into: cols.pointer)
            sgemm(
                transA: .none, transB: .transpose, m: output.channels, n: rows, k: positions, alpha: 1, a: dyb,
                lda: positions, b: cols.pointer, ldb: positions, beta: accumulate || b > 0 ? 1 : 0,
                c: weightGradient.pointer, ldc: rows, threads: threads)
        }
    }

    private func weightGradientsBatched(_ dy: Tensor, accumulate: Bool) {
        let batch = dy.rows
        let n = batch * output.positions
        let cols = columnBuffer.view(rows: input.channels * kernel * kernel, columns: n)
        let dyT = channelMajor.view(rows: output.channels, columns: n)
        gatherChannelMajor(dy.pointer, batch: batch, channels: output.channels, positions: output.positions, into: dyT.pointer)
        columnSums(transposedOf: dyT.pointer, rows: output.channels, cols: n, into: biasGradient.pointer, accumulate: accumulate)
        let og = output.channels / groups
        let kg = groupPatch
        for g in 0..<groups {
            sgemm(
                transA: .none, transB: .transpose, m: og, n: kg, k: n, alpha: 1,
                a: dyT.pointer + g * og * n, lda: n, b: cols.pointer + g * kg * n, ldb: n,
                beta: accumulate ? 1 : 0, c: weightGradient.pointer + g * og * kg, ldc: kg, threads: threads)
        }
    }

    /// Backward's second half: ∂x for the dy of the last `weightGradients`. It overwrites the columns (∂W no longer
    /// needs them), so ∂W of the same forward cannot follow it.
    public func inputGradient() -> Tensor {
        guard let batch = lastBatch, let dy = lastGradient, gradientReady else {
            preconditionFailure("Conv2D.inputGradient before backward")
        }
        let dx = inputGradientBuffer.view(rows: batch, columns: input.count)
        guard runsPerExample else { return inputGradientBatched(batch, into: dx) }
        let (rows, positions) = (input.channels * kernel * kernel, output.positions)
        let cols = columnBuffer.view(rows: rows, columns: positions)
        for b in 0..<batch {
            sgemm(
                transA: .transpose, transB: .none, m: rows, n: positions, k: output.channels, alpha: 1,
                a: weight.pointer, lda: rows, b: dy.pointer + b * output.count, ldb: positions, beta: 0, c: cols.pointer,
                ldc: positions, threads: threads)
            col2im(cols.pointer, batch: 1, window, into: dx.pointer + b * input.count)
        }
        return dx
    }

    private func inputGradientBatched(_ batch: Int, into dx: Tensor) -> Tensor {
        let n = batch * output.positions
        let cols = columnBuffer.view(rows: input.channels * kernel * kernel, columns: n)
        let dyT = channelMajor.view(rows: output.channels, columns: n)
        let og = output.channels / groups
        let kg = groupPatch
        for g in 0..<groups {
            sgemm(
                transA: .transpose, transB: .none, m: kg, n: n, k: og, alpha: 1,
                a: weight.pointer + g * og * kg, lda: kg, b: dyT.pointer + g * og * n, ldb: n,
                beta: 0, c: cols.pointer + g * kg * n, ldc: n, threads: threads)
        }
        col2im(cols.pointer, batch: batch, window, into: dx.pointer)
        return dx
    }
}

/// The geometry im2col and col2im walk: for output (oh, ow) and kernel tap (ki, kj) the input position is
/// (oh·s − pad + ki, ow·s − pad + kj), zero outside the input.
struct ConvWindow {
    let input: FeatureShape
    let output: FeatureShape
    let kernel: Int
    let stride: Int
    let padding: Int

    /// The output columns ow whose input column ow·s − pad + kj lies inside the input.
    @inline(__always) func validColumns(tap kj: Int) -> Range<Int> {
        let first = max(0, (padding - kj + stride - 1) / stride)
        let last = (input.width - 1 + padding - kj)
        let end = last < 0 ? 0 : min(output.width, last / stride + 1)
        return first..<max(first, end)
    }
}

/// cols[(c·k + ki)·k + kj, b·P + oh·Wo + ow] = x[b, c, oh·s − pad + ki, ow·s − pad + kj] (0 in the padding).
func im2col(_ x: UnsafePointer<Float>, batch: Int, _ w: ConvWindow, into cols: UnsafeMutablePointer<Float>) {
    let (inp, out, k) = (w.input, w.output, w.kernel)
    let n = batch * out.positions
    for c in 0..<inp.channels {
        for ki in 0..<k {
            for kj in 0..<k {
                let row = cols + ((c * k + ki) * k + kj) * n
                let valid = w.validColumns(tap: kj)
                for b in 0..<batch {
                    let src = x + (b * inp.channels + c) * inp.positions
                    let dst = row + b * out.positions
                    for oh in 0..<out.height {
                        let ih = oh * w.stride - w.padding + ki
                        let d = dst + oh * out.width
                        guard ih >= 0 && ih < inp.height else {
                            d.update(repeating: 0, count: out.width)
                            continue
                        }
                        let s = src + ih * inp.width - w.padding + kj
                        for ow in 0..<valid.lowerBound { d[ow] = 0 }
                        if w.stride == 1 {
                            (d + valid.lowerBound).update(from: s + valid.lowerBound, count: valid.count)
                        } else {
                            for ow in valid { d[ow] = s[ow * w.stride] }
                        }
                        for ow in valid.upperBound..<out.width { d[ow] = 0 }
                    }
                }
            }
        }
    }
}

/// dx = col2im(dcols): the transpose of `im2col`, summing every tap that read an input element.
func col2im(_ cols: UnsafePointer<Float>, batch: Int, _ w: ConvWindow, into dx: UnsafeMutablePointer<Float>) {
    let (inp, out, k) = (w.input, w.output, w.kernel)
    let n = batch * out.positions
    dx.update(repeating: 0, count: batch * inp.count)
    for c in 0..<inp.channels {
        for ki in 0..<k {
            for kj in 0..<k {
                let row = cols + ((c * k + ki) * k + kj) * n
                let valid = w.validColumns(tap: kj)
                for b in 0..<batch {
                    let dst = dx + (b * inp.channels + c) * inp.positions
                    let src = row + b * out.positions
                    for oh in 0..<out.height {
                        let ih = oh * w.stride - w.padding + ki
                        guard ih >= 0 && ih < inp.height else { continue }
                        let d = dst + ih * inp.width - w.padding + kj
                        let s = src + oh * out.width
                        if w.stride == 1 {
                            addRow(s + valid.lowerBound, into: d + valid.lowerBound, count: valid.count)
                        } else {
                            for ow in valid { d[ow * w.stride] += s[ow] }
                        }
                    }
                }
            }
        }
    }
}

/// d[i] += s[i], eight lanes at a time.
@inline(__always) func addRow(_ s: UnsafePointer<Float>, into d: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        store(load(d + i) + load(s + i), d + i)
        i += 8
    }
    while i < count {
        d[i] += s[i]
        i += 1
    }
}

/// y[b, o, p] = yT[o, b·P + p] + bias[o]
func scatterChannelMajor(
    _ yT: UnsafePointer<Float>, batch: Int, channels: Int, positions: Int, bias: UnsafePointer<Float>,
    into y: UnsafeMutablePointer<Float>
) {
    let n = batch * positions
    for b in 0..<batch {
        for o in 0..<channels {
            let s = yT + o * n + b * positions
            let d = y + (b * channels + o) * positions
            let v = bias[o]
            for p in 0..<positions { d[p] = s[p] + v }
        }
    }
}

/// dyT[o, b·P + p] = dy[b, o, p]
func gatherChannelMajor(
    _ dy: UnsafePointer<Float>, batch: Int, channels: Int, positions: Int, into dyT: UnsafeMutablePointer<Float>
) {
    let n = batch * positions
    for b in 0..<batch {
        for o in 0..<channels {
            (dyT + o * n + b * positions).update(from: dy + (b * channels + o) * positions, count: positions)
        }
    }
}

/// out[r] (+)= Σ_j m[r, j] over a [rows, cols] matrix (a bias gradient from a channel-major gradient).
func columnSums(
    transposedOf m: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, accumulate: Bool
) {
    for r in 0..<rows {
        let row = m + r * cols
        var acc = Vec(repeating: 0)
        var j = 0
        while j + 8 <= cols {
            acc += load(row + j)
            j += 8
        }
        var s = acc.sum()
        while j < cols {
            s += row[j]
            j += 1
        }
        out[r] = accumulate ? out[r] + s : s
    }
}
