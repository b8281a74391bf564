import Tensors

/// A 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`) over rows that hold one NCHW example each
/// (see `FeatureShape` for why NCHW), with square kernels, stride, zero padding, dilation 1 and groups: depthwise is
/// `groups == channels`. Weight [out, in/groups, k, k] (PyTorch's orientation, stored as is) then bias [out].
///
/// Implemented as im2col plus the project's GEMM, a chunk of examples at a time; forward packs large column
/// matrices straight from x instead (`ConvColumnPanels`, implicit GEMM; `implicitColumnsThreshold`). With P = Ho·Wo, a chunk of c
/// examples, N = c·P, Kg = in/groups·k·k and Og = out/groups, for each group g (a contiguous block of Kg rows of the
/// column matrix and Og rows of W):
///   forward  cols[in·k·k, N] = im2col(x);   Yᵀ_g[Og, N] = W_g[Og, Kg] · cols_g[Kg, N]          (NN)
///            y[b, o, p] = Yᵀ[o, b·P + p] + bias[o]
///   backward dYᵀ[o, b·P + p] = dy[b, o, p];  dW_g[Og, Kg] (+)= dYᵀ_g[Og, N] · cols_gᵀ[N, Kg]  (NT)
///            dcols_g[Kg, N] = W_gᵀ[Kg, Og] · dYᵀ_g[Og, N] (TN, into the column buffer);  dx = col2im(dcols)
/// Why chunks: a whole batch's columns (W3's second conv: 288 × 25,088 floats, 29 MB) would go through memory
/// between im2col and the GEMM, while a chunk's stay in L2; and a GEMM of n or k = P alone (196 there) runs at about
/// two thirds of the whole-batch rate, of 4 × 196 near it (`chunkColumns`). A chunk of one example needs no layout
/// pass at all: its Yᵀ [O, P] is its NCHW output and its dy is already dYᵀ, so maps of 768 positions or more
/// (W3's first conv) go one example at a time with the GEMM writing y directly. Backward recomputes the columns
/// from the kept input (cheaper than storing the batch's).
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
    private let biasedWeights = ReusableBuffer()
    private let weightGradientScratch = ReusableBuffer()
    private let inputGradientBuffer = ReusableBuffer()
    private var lastBatch: Int?
    /// The last forward's input (backward recomputes its columns from it; the layer before keeps it
    /// valid until its own next forward, as `Dense` relies on too) and the last backward's dy.
    private var lastInput: Tensor?
    private var lastGradient: Tensor?
    /// Whether `weightGradients` ran since the last forward (so `inputGradient` has a dy).
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

    /// Bytes of im2col columns one chunk of examples may fill by default: about a quarter of a core's L2, so that
    /// the columns im2col writes are still in cache when the GEMM packs them, with dy's channel-major copy and the
    /// GEMM's output for the chunk beside them.
    public static let defaultColumnBudgetBytes = 1 << 20
    /// This layer's budget (tests shrink it to force several chunks).
    public var columnBudgetBytes = Conv2D.defaultColumnBudgetBytes

    /// Columns (examples × output positions) a plain convolution's chunk aims for: a GEMM of n or k = 196 (one of
    /// W3's 14×14 maps) runs at about two thirds of the whole-batch GEMM's rate, one of 4 × 196 near it. A map this
    /// large or larger goes one example at a time, with no layout pass at all (see `forwardChunk`).
    public static let chunkColumns = 768

    /// Examples per chunk of a batch of `batch`: enough for `chunkColumns` (grouped convolutions, whose GEMMs are
    /// tiny per group: as many as the budget allows), never more columns than `columnBudgetBytes`.
    public func chunkExamples(batch: Int) -> Int {
        let positions = output.positions
        let perExample = input.channels * kernel * kernel * positions * MemoryLayout<Float>.stride
        let fitting = max(1, columnBudgetBytes / max(1, perExample))
        let wanted = groups > 1 ? fitting : (Self.chunkColumns + positions - 1) / max(1, positions)
        return max(1, min(batch, fitting, wanted))
    }

    private var window: ConvWindow {
        ConvWindow(input: input, output: output, kernel: kernel, stride: stride, padding: padding)
    }

    /// `body(first, count)` over consecutive chunks of `batch` examples.
    private func forEachChunk(batch: Int, _ body: (Int, Int) -> Void) {
        let size = chunkExamples(batch: batch)
        var first = 0
        while first < batch {
            body(first, min(size, batch - first))
            first += size
        }
    }

    // x: [B, C·H·W] → y: [B, O·Ho·Wo]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.columns == input.count, "Conv2D on \(input) (\(input.count) features) given input \(x.shape)")
        lastBatch = x.rows
        lastInput = x
        gradientReady = false
        let y = outputBuffer.view(rows: x.rows, columns: output.count)
        if groups == 1 && chunkExamples(batch: x.rows) == 1
            && groupPatch * output.positions <= implicitColumnsThreshold
        {
            let weights = weightsWithBias()
            for b in 0..<x.rows {
                forwardExample(x.pointer + b * input.count, weights: weights, into: y.pointer + b * output.count)
            }
            return y
        }
        forEachChunk(batch: x.rows) { first, count in
            forwardChunk(x.pointer + first * input.count, batch: count, into: y.pointer + first * output.count)
        }
        return y
    }

    /// [O, K + 1]: the weight rows with the bias as a last column, for `forwardExample`.
    private func weightsWithBias() -> UnsafePointer<Float> {
        let k = groupPatch
        let a = biasedWeights.view(rows: output.channels, columns: k + 1)
        for o in 0..<output.channels {
            (a.pointer + o * (k + 1)).update(from: weight.pointer + o * k, count: k)
            a.pointer[o * (k + 1) + k] = bias[o]
        }
        return UnsafePointer(a.pointer)
    }

    /// One example of an ungrouped convolution: y [O, P] = [W | b] · [cols; 1], its NCHW output written by the GEMM,
    /// the bias riding in the product as a row of ones under the columns instead of a pass over y.
    private func forwardExample(
        _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>
    ) {
        let (k, n) = (groupPatch, output.positions)
        let cols = columnBuffer.view(rows: k + 1, columns: n)
        im2col(x, batch: 1, window, into: cols.pointer)
        (cols.pointer + k * n).update(repeating: 1, count: n)
        sgemm(
            transA: .none, transB: .none, m: output.channels, n: n, k: k + 1, alpha: 1, a: weights, lda: k + 1,
            b: cols.pointer, ldb: n, beta: 0, c: y, ldc: n, threads: threads)
    }

    /// A group's column matrix (kg × n floats) above which forward packs its panels straight from x instead of
    /// writing the columns out: a smaller one stays in cache and the GEMM packs it during its first row panel's
    /// FMAs (its on-the-fly limit is the same 131,072 floats), which the implicit path cannot overlap. Measured on
    /// W3 (`cohort bench conv --cpu-time`, ratio to the GEMM, explicit → implicit): layer 0, 9 × 784 floats,
    /// avx512 0.61 → 0.60, avx2 0.67 → 0.59, portable 0.81 → 0.69; layer 3, 288 × 784, avx512 0.68 → 0.86, avx2
    /// 0.77 → 0.90, portable 0.91 → 0.90. Only "same" convolutions (`ConvWindow.isSame`), whose panels are block
    /// copies, take the implicit path.
    public static let defaultImplicitColumnsThreshold = 131_072
    /// This layer's threshold (tests set 0 or `.max` to force either path).
    public var implicitColumnsThreshold = Conv2D.defaultImplicitColumnsThreshold

    /// One chunk of `batch` examples: Yᵀ_g = W_g · cols_g per group, then y = scatter(Yᵀ) + bias. The columns are
    /// packed straight from x (`ConvColumnPanels`) when large, else written out by im2col first.
    private func forwardChunk(_ x: UnsafePointer<Float>, batch: Int, into y: UnsafeMutablePointer<Float>) {
        let n = batch * output.positions
        // One example's Yᵀ [O, P] is its NCHW output: the GEMM writes y itself and no layout pass follows.
        let yT = batch == 1 ? y : channelMajor.view(rows: output.channels, columns: n).pointer
        let og = output.channels / groups
        let kg = groupPatch
        let implicit = window.isSame && kg * n > implicitColumnsThreshold
        let cols = implicit ? nil : columnBuffer.view(rows: input.channels * kernel * kernel, columns: n)
        if let cols { im2col(x, batch: batch, window, into: cols.pointer) }
        for g in 0..<groups {
            if let cols {
                sgemm(
                    transA: .none, transB: .none, m: og, n: n, k: kg, alpha: 1,
                    a: weight.pointer + g * og * kg, lda: kg, b: cols.pointer + g * kg * n, ldb: n,
                    beta: 0, c: yT + g * og * n, ldc: n, threads: threads)
            } else {
                let panels = ConvColumnPanels(x: x, window: window, channel0: g * (input.channels / groups))
                sgemm(
                    transA: .none, m: og, n: n, k: kg, alpha: 1, a: weight.pointer + g * og * kg, lda: kg,
                    panels: panels, beta: 0, c: yT + g * og * n, ldc: n, threads: threads)
            }
        }
        if batch == 1 {
            addChannelBias(bias.pointer, channels: output.channels, positions: output.positions, to: y)
        } else {
            scatterChannelMajor(
                yT, batch: batch, channels: output.channels, positions: output.positions, bias: bias.pointer, into: y)
        }
    }

    // dy: [B, O·Ho·Wo] → dx: [B, C·H·W]; dW [O, C/g, k, k] and db [O] into the gradient slice.
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        weightGradients(dy, accumulate: accumulate)
        return needInputGradient ? inputGradient() : nil
    }

    /// Backward's first half: ∂W and ∂b of `dy` for the last forward (the columns recomputed from the kept input,
    /// chunk by chunk). Separate so that `cohort bench conv` can time each pass against its GEMM.
    public func weightGradients(_ dy: Tensor, accumulate: Bool) {
        guard let batch = lastBatch, let x = lastInput else { preconditionFailure("Conv2D.backward before forward") }
        precondition(dy.rows == batch && dy.columns == output.count, "Conv2D.backward given \(dy.shape)")
        lastGradient = dy
        gradientReady = true
        forEachChunk(batch: batch) { first, count in
            weightGradientsChunk(
                x.pointer + first * input.count, dy.pointer + first * output.count, batch: count,
                accumulate: accumulate || first > 0)
        }
    }

    /// One chunk: dYᵀ = gather(dy); ∂b (+)= row sums of dYᵀ; ∂W_g (+)= dYᵀ_g · cols_gᵀ per group.
    private func weightGradientsChunk(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, batch: Int, accumulate: Bool
    ) {
        let n = batch * output.positions
        let cols = columnBuffer.view(rows: input.channels * kernel * kernel, columns: n)
        im2col(x, batch: batch, window, into: cols.pointer)
        let dyT = channelMajorGradient(dy, batch: batch)
        columnSums(transposedOf: dyT, rows: output.channels, cols: n, into: biasGradient.pointer, accumulate: accumulate)
        let og = output.channels / groups
        let kg = groupPatch
        if groups == 1 && kg > og {
            transposedWeightGradient(cols: cols.pointer, dyT: dyT, n: n, accumulate: accumulate)
            return
        }
        for g in 0..<groups {
            sgemm(
                transA: .none, transB: .transpose, m: og, n: kg, k: n, alpha: 1,
                a: dyT + g * og * n, lda: n, b: cols.pointer + g * kg * n, ldb: n,
                beta: accumulate ? 1 : 0, c: weightGradient.pointer + g * og * kg, ldc: kg, threads: threads)
        }
    }

    /// ∂Wᵀ [K, O] = cols [K, N] · dYᵀᵀ, then ∂W (+)= its transpose. The product ∂W = dYᵀ · colsᵀ packs the larger
    /// operand (the columns, K = 288 rows in W3's second conv) transposed; this one reads the columns as stored
    /// (packed on the fly by the first column panel's kernel) and transposes only dYᵀ (O = 64 rows) and the small
    /// result. Same products over the same depth blocks in the same order: the sums are bitwise those of ∂W = dYᵀ · colsᵀ.
    private func transposedWeightGradient(
        cols: UnsafePointer<Float>, dyT: UnsafePointer<Float>, n: Int, accumulate: Bool
    ) {
        let (o, k) = (output.channels, groupPatch)
        let t = weightGradientScratch.view(rows: k, columns: o)
        sgemm(
            transA: .none, transB: .transpose, m: k, n: o, k: n, alpha: 1, a: cols, lda: n, b: dyT, ldb: n,
            beta: 0, c: t.pointer, ldc: o, threads: threads)
        let dW = weightGradient.pointer
        for i in 0..<o {
            for j in 0..<k {
                dW[i * k + j] = accumulate ? dW[i * k + j] + t.pointer[j * o + i] : t.pointer[j * o + i]
            }
        }
    }

    /// dYᵀ [O, batch·P] of a chunk's dy rows: one example's rows already are (no copy), several are gathered.
    private func channelMajorGradient(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float> {
        guard batch > 1 else { return dy }
        let dyT = channelMajor.view(rows: output.channels, columns: batch * output.positions)
        gatherChannelMajor(dy, batch: batch, channels: output.channels, positions: output.positions, into: dyT.pointer)
        return UnsafePointer(dyT.pointer)
    }

    /// Backward's second half: ∂x for the dy of the last `weightGradients`.
    public func inputGradient() -> Tensor {
        guard let batch = lastBatch, let dy = lastGradient, gradientReady else {
            preconditionFailure("Conv2D.inputGradient before backward")
        }
        let dx = inputGradientBuffer.view(rows: batch, columns: input.count)
        forEachChunk(batch: batch) { first, count in
            inputGradientChunk(dy.pointer + first * output.count, batch: count, into: dx.pointer + first * input.count)
        }
        return dx
    }

    /// One chunk: dYᵀ = gather(dy); dcols_g = W_gᵀ · dYᵀ_g per group (into the column buffer); dx = col2im(dcols).
    private func inputGradientChunk(_ dy: UnsafePointer<Float>, batch: Int, into dx: UnsafeMutablePointer<Float>) {
        let n = batch * output.positions
        let cols = columnBuffer.view(rows: input.channels * kernel * kernel, columns: n)
        let dyT = channelMajorGradient(dy, batch: batch)
        let og = output.channels / groups
        let kg = groupPatch
        for g in 0..<groups {
            sgemm(
                transA: .transpose, transB: .none, m: kg, n: n, k: og, alpha: 1,
                a: weight.pointer + g * og * kg, lda: kg, b: dyT + g * og * n, ldb: n,
                beta: 0, c: cols.pointer + g * kg * n, ldc: n, threads: threads)
        }
        if window.isSame {
            col2imSame(cols.pointer, batch: batch, window, into: dx)
        } else {
            col2im(cols.pointer, batch: batch, window, into: dx)
        }
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

    /// Stride 1 and an output as large as the input: a tap's reads are the plane shifted by a constant.
    var isSame: Bool { stride == 1 && output.width == input.width && output.height == input.height }

    /// For a same convolution: tap (ki, kj) reads input position q + `shift` for output position q of a plane,
    /// except at the output columns `edges` names, whose tap falls off the left or right edge
    /// (ow < pad − kj, or ow ≥ W − (kj − pad)).
    func sameTap(ki: Int, kj: Int) -> (shift: Int, edges: EdgeColumns) {
        let w = input.width
        return (
            (ki - padding) * w + (kj - padding),
            EdgeColumns(width: w, left: max(0, padding - kj), rightStart: w - max(0, kj - padding))
        )
    }

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

/// `col2im` for a "same" convolution (`ConvWindow.isSame`): within a plane, output position q's tap reads input
/// q + (ki − pad)·W + (kj − pad), so each tap row adds to dx as one shifted block over the whole plane instead of
/// one short run per output row (14 floats in W3's second conv). The taps that fall off the left or right edge are
/// zeroed in `cols` (scratch) first, so the block adds nothing for them; those off the top or bottom lie outside the
/// block's range.
func col2imSame(_ cols: UnsafeMutablePointer<Float>, batch: Int, _ w: ConvWindow, into dx: UnsafeMutablePointer<Float>) {
    let (inp, k) = (w.input, w.kernel)
    let plane = inp.positions
    let n = batch * plane
    dx.update(repeating: 0, count: batch * inp.count)
    for c in 0..<inp.channels {
        for ki in 0..<k {
            for kj in 0..<k {
                let row = cols + ((c * k + ki) * k + kj) * n
                let (shift, edges) = w.sameTap(ki: ki, kj: kj)
                let (lo, hi) = (max(0, -shift), min(plane, plane - shift))
                guard hi > lo else { continue }
                for b in 0..<batch {
                    let src = row + b * plane
                    edges.zero(plane, startingAtColumn: 0, into: src)
                    addRow(src + lo, into: dx + (b * inp.channels + c) * plane + lo + shift, count: hi - lo)
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

/// y[b, o, p] = yT[o, b·P + p] + bias[o] (0 without a bias)
func scatterChannelMajor(
    _ yT: UnsafePointer<Float>, batch: Int, channels: Int, positions: Int, bias: UnsafePointer<Float>?,
    into y: UnsafeMutablePointer<Float>
) {
    let n = batch * positions
    for b in 0..<batch {
        for o in 0..<channels {
            let s = yT + o * n + b * positions
            let d = y + (b * channels + o) * positions
            let v = bias?[o] ?? 0
            for p in 0..<positions { d[p] = s[p] + v }
        }
    }
}

/// y[o, p] += bias[o] for one example, in place (a separate loop: scattering y onto itself would alias, and the
/// compiler's overlap check would then take its scalar loop).
func addChannelBias(_ bias: UnsafePointer<Float>, channels: Int, positions: Int, to y: UnsafeMutablePointer<Float>) {
    for o in 0..<channels {
        let row = y + o * positions
        let v = bias[o]
        for p in 0..<positions { row[p] += v }
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
