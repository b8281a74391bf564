import NN
import Tensors
import Testing

/// Direct convolution in Double, the reference the im2col + GEMM path is checked against:
/// y[b, o, oh, ow] = bias[o] + Σ_{c ∈ group(o), ki, kj} w[o, c − g·C/G, ki, kj] · x[b, c, oh·s − p + ki, ow·s − p + kj].
func naiveConv(_ x: Tensor, _ conv: Conv2D) -> [Float] {
    let (inp, out, k) = (conv.input, conv.output, conv.kernel)
    let cg = inp.channels / conv.groups
    let og = out.channels / conv.groups
    var y = [Float](repeating: 0, count: x.rows * out.count)
    for b in 0..<x.rows {
        for o in 0..<out.channels {
            let g = o / og
            for oh in 0..<out.height {
                for ow in 0..<out.width {
                    var s = Double(conv.bias[o])
                    for c in 0..<cg {
                        for ki in 0..<k {
                            for kj in 0..<k {
                                let ih = oh * conv.stride - conv.padding + ki
                                let iw = ow * conv.stride - conv.padding + kj
                                guard ih >= 0 && ih < inp.height && iw >= 0 && iw < inp.width else { continue }
                                let xv = x[b * inp.count + ((g * cg + c) * inp.height + ih) * inp.width + iw]
                                s += Double(conv.weight[((o * cg + c) * k + ki) * k + kj]) * Double(xv)
                            }
                        }
                    }
                    y[b * out.count + (o * out.height + oh) * out.width + ow] = Float(s)
                }
            }
        }
    }
    return y
}

/// Pooling in Double over windows at stride s without padding.
func naivePool(_ x: Tensor, input: FeatureShape, kernel k: Int, stride s: Int, max useMax: Bool) -> [Float] {
    let ho = (input.height - k) / s + 1
    let wo = (input.width - k) / s + 1
    var y: [Float] = []
    for b in 0..<x.rows {
        for c in 0..<input.channels {
            for oh in 0..<ho {
                for ow in 0..<wo {
                    var values: [Double] = []
                    for i in 0..<k {
                        for j in 0..<k {
                            values.append(Double(x[b * input.count + (c * input.height + oh * s + i) * input.width + ow * s + j]))
                        }
                    }
                    y.append(Float(useMax ? values.max()! : values.reduce(0, +) / Double(k * k)))
                }
            }
        }
    }
    return y
}

struct ConvCase: CustomStringConvertible, Sendable {
    let channels, height, width, out, kernel, stride, padding, groups: Int
    var input: FeatureShape { FeatureShape(channels: channels, height: height, width: width) }
    func make() -> Conv2D {
        Conv2D(input: input, outChannels: out, kernel: kernel, stride: stride, padding: padding, groups: groups)
    }
    var description: String { "C\(channels) \(height)×\(width) → \(out) k\(kernel) s\(stride) p\(padding) g\(groups)" }
}

/// Distinct values 0.1 apart (shuffled by a multiplier coprime to the count), so ±h never reorders a max window.
func distinctInput(rows: Int, columns: Int) -> Tensor {
    let t = Tensor(shape: [rows, columns])
    let n = t.count
    let step = n % 7 == 0 ? 11 : 7
    for i in 0..<n { t[i] = Float((i * step) % n) * 0.1 - Float(n) * 0.05 }
    return t
}

@Suite struct ConvLayerTests {
    let tolerance = 5e-3

    static let cases: [ConvCase] = [
        ConvCase(channels: 2, height: 5, width: 6, out: 3, kernel: 3, stride: 1, padding: 1, groups: 1),  // padding
        ConvCase(channels: 2, height: 7, width: 5, out: 4, kernel: 3, stride: 2, padding: 1, groups: 1),  // stride 2
        ConvCase(channels: 4, height: 5, width: 5, out: 6, kernel: 3, stride: 1, padding: 0, groups: 2),  // groups
        ConvCase(channels: 3, height: 6, width: 5, out: 3, kernel: 3, stride: 1, padding: 1, groups: 3),  // depthwise
        ConvCase(channels: 3, height: 4, width: 5, out: 5, kernel: 1, stride: 1, padding: 0, groups: 1),  // 1×1
        ConvCase(channels: 3, height: 9, width: 7, out: 5, kernel: 5, stride: 3, padding: 2, groups: 1),  // odd, s3
        ConvCase(channels: 6, height: 7, width: 9, out: 4, kernel: 2, stride: 2, padding: 1, groups: 2),  // even k
        // ≥ 64 output positions and groups 1: chunks of one example (one GEMM per example, written straight into y).
        ConvCase(channels: 2, height: 9, width: 8, out: 3, kernel: 3, stride: 1, padding: 1, groups: 1),  // padding
        ConvCase(channels: 2, height: 17, width: 15, out: 4, kernel: 3, stride: 2, padding: 1, groups: 1),  // stride 2
        ConvCase(channels: 3, height: 9, width: 8, out: 5, kernel: 1, stride: 1, padding: 0, groups: 1),  // 1×1
        ConvCase(channels: 2, height: 11, width: 9, out: 3, kernel: 4, stride: 1, padding: 2, groups: 1),  // even k, odd
        // 16 and 17 input channels (W3's second conv has 32).
        ConvCase(channels: 16, height: 5, width: 6, out: 3, kernel: 3, stride: 1, padding: 1, groups: 1),  // pad 1
        ConvCase(channels: 16, height: 5, width: 5, out: 2, kernel: 3, stride: 1, padding: 0, groups: 1),  // dy pad 2
        ConvCase(channels: 17, height: 4, width: 5, out: 2, kernel: 1, stride: 1, padding: 0, groups: 1),  // 1×1
        ConvCase(channels: 16, height: 6, width: 5, out: 3, kernel: 4, stride: 1, padding: 2, groups: 1),  // even k
    ]

    @Test(arguments: cases)
    func convMatchesDirectConvolution(_ c: ConvCase) {
        let conv = c.make()
        let model = Sequential([conv], inputFeatures: c.input.count)
        var probe = Probe(seed: 31)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let x = probe.tensor([3, c.input.count])
        let y = model.forward(x, training: true).array
        let reference = naiveConv(x, conv)
        let worst = zip(y, reference).map { abs($0 - $1) }.max() ?? 0
        #expect(y.count == reference.count && worst < 1e-4, "\(c): worst \(worst)")
    }

    @Test(arguments: cases)
    func convGradients(_ c: ConvCase) {
        let model = Sequential([c.make()], inputFeatures: c.input.count)
        var probe = Probe(seed: 32)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let e = checkModel(model, input: probe.tensor([3, c.input.count]), seed: 33, samples: 80)
        #expect(e.params < tolerance && e.input < tolerance, "\(c): \(e)")
    }

    /// The forward GEMM packs its columns straight from the image (`ConvColumnPanels`, forced here for every size):
    /// its output must equal, bit for bit, the explicit path's (im2col written out, then `sgemm` on it), bias zero,
    /// for every case; and the layer's own explicit path (forced) must give the same.
    @Test(arguments: cases)
    func implicitColumnsEqualExplicitIm2col(_ c: ConvCase) {
        let conv = c.make()
        conv.implicitColumnsThreshold = 0
        let model = Sequential([conv], inputFeatures: c.input.count)
        var probe = Probe(seed: 35)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        conv.bias.zero()
        let batch = 3
        let x = probe.tensor([batch, c.input.count])
        let y = model.forward(x, training: false).array
        let (out, k) = (conv.output, c.kernel)
        let n = batch * out.positions
        let kg = c.channels / c.groups * k * k
        let og = c.out / c.groups
        var expected = [Float](repeating: 0, count: y.count)
        for g in 0..<c.groups {
            // cols_g[(cl·k + ki)·k + kj, b·P + oh·Wo + ow] for the group's channels, written out.
            var cols = [Float](repeating: 0, count: kg * n)
            for cl in 0..<(c.channels / c.groups) {
                for ki in 0..<k {
                    for kj in 0..<k {
                        for b in 0..<batch {
                            for oh in 0..<out.height {
                                for ow in 0..<out.width {
                                    let (ih, iw) = (oh * c.stride - c.padding + ki, ow * c.stride - c.padding + kj)
                                    guard ih >= 0 && ih < c.height && iw >= 0 && iw < c.width else { continue }
                                    let channel = g * (c.channels / c.groups) + cl
                                    cols[((cl * k + ki) * k + kj) * n + b * out.positions + oh * out.width + ow] =
                                        x[b * c.input.count + (channel * c.height + ih) * c.width + iw]
                                }
                            }
                        }
                    }
                }
            }
            var yT = [Float](repeating: 0, count: og * n)
            cols.withUnsafeBufferPointer { pb in
                yT.withUnsafeMutableBufferPointer { pc in
                    sgemm(
                        transA: .none, transB: .none, m: og, n: n, k: kg, alpha: 1,
                        a: conv.weight.pointer + g * og * kg, lda: kg, b: pb.baseAddress!, ldb: n, beta: 0,
                        c: pc.baseAddress!, ldc: n)
                }
            }
            for o in 0..<og {
                for b in 0..<batch {
                    for p in 0..<out.positions {
                        expected[b * out.count + (g * og + o) * out.positions + p] = yT[o * n + b * out.positions + p]
                    }
                }
            }
        }
        #expect(y.elementsEqual(expected) { $0.bitPattern == $1.bitPattern }, "\(c)")
        conv.implicitColumnsThreshold = .max
        let explicit = model.forward(x, training: false).array
        #expect(explicit.elementsEqual(expected) { $0.bitPattern == $1.bitPattern }, "\(c) explicit")
    }

    /// The chunk sizes: whole batches for small maps, one example at a time for large ones, and grouped
    /// convolutions in budget-sized chunks.
    @Test func casesCoverEveryPath() {
        // Small maps go whole (up to 768 columns), a 28×28 map one example at a time, groups as the budget allows.
        #expect(Self.cases.allSatisfy { $0.make().chunkExamples(batch: 5) == 5 })
        let large = Conv2D(input: FeatureShape(channels: 1, height: 28, width: 28), outChannels: 2, kernel: 3, padding: 1)
        #expect(large.chunkExamples(batch: 5) == 1)
        let grouped = Conv2D(
            input: FeatureShape(channels: 4, height: 28, width: 28), outChannels: 4, kernel: 3, padding: 1, groups: 4)
        #expect(grouped.chunkExamples(batch: 64) == Conv2D.defaultColumnBudgetBytes / (36 * 784 * 4))
    }

    /// Splitting a batch into chunks (one example each, two with a shorter last one) changes no output or
    /// gradient: each is computed as over the whole batch at once.
    @Test(arguments: [0, 2, 7, 11])
    func chunkedBatchesEqualOneChunk(_ index: Int) {
        let c = Self.cases[index]
        var probe = Probe(seed: 40)
        let x = probe.tensor([5, c.input.count])
        let dy = probe.tensor([5, c.make().output.count])
        let parameters = probe.tensor([c.make().parameterCount])
        func run(budget: Int) -> (y: [Float], grads: [Float], dx: [Float]) {
            let conv = c.make()
            conv.columnBudgetBytes = budget
            let model = Sequential([conv], inputFeatures: c.input.count)
            model.computesInputGradient = true
            model.parameters.assign(parameters)
            let y = model.forward(x, training: true).array
            let dx = model.backward(dy.copy())?.array ?? []
            return (y, model.gradients.array, dx)
        }
        let whole = run(budget: 1 << 30)
        let perExample = c.input.channels * c.kernel * c.kernel * c.make().output.positions * 4
        for budget in [1, 2 * perExample] {
            let chunked = run(budget: budget)
            for (name, a, b) in [("y", whole.y, chunked.y), ("∂θ", whole.grads, chunked.grads), ("∂x", whole.dx, chunked.dx)] {
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
                #expect(a.count == b.count && !a.isEmpty && worst < 1e-4, "\(c) budget \(budget) \(name): \(worst)")
            }
        }
    }

    /// Gradients accumulate over two backward passes when asked (micro-batches), on both paths.
    @Test(arguments: [1, 8])
    func convAccumulatesParameterGradients(_ index: Int) {
        let c = Self.cases[index]
        let model = Sequential([c.make()], inputFeatures: c.input.count)
        var probe = Probe(seed: 34)
        model.parameters.assign(probe.tensor([model.parameterCount]))
        let x = probe.tensor([2, c.input.count])
        let dy = probe.tensor([2, c.make().output.count])
        _ = model.forward(x, training: true)
        model.backward(dy.copy())
        let once = model.gradients.array
        model.accumulatesGradients = true
        _ = model.forward(x, training: true)
        model.backward(dy.copy())
        let twice = model.gradients.array
        #expect(zip(once, twice).allSatisfy { abs(2 * $0 - $1) <= 1e-4 * max(1, abs($1)) })
    }

    /// Widths 18 and 10 take max pooling's vectorised 2×2 path (8 and 4 outputs at once, a last vector overlapping).
    @Test(arguments: [(2, 2, 6), (3, 2, 6), (2, 1, 6), (3, 3, 6), (2, 2, 18), (2, 2, 10), (2, 2, 17)])
    func poolingMatchesNaiveAndChecksGradients(kernel: Int, stride: Int, width: Int) {
        let shape = FeatureShape(channels: 2, height: 7, width: width)
        let x = distinctInput(rows: 3, columns: shape.count)
        for useMax in [true, false] {
            let layer: Layer =
                useMax
                ? MaxPool2D(input: shape, kernel: kernel, stride: stride)
                : AvgPool2D(input: shape, kernel: kernel, stride: stride)
            let model = Sequential([layer], inputFeatures: shape.count)
            let y = model.forward(x, training: true).array
            let reference = naivePool(x, input: shape, kernel: kernel, stride: stride, max: useMax)
            let worst = zip(y, reference).map { abs($0 - $1) }.max() ?? 0
            #expect(y.count == reference.count && worst < 1e-5, "\(layer.kind) k\(kernel) s\(stride): \(worst)")
            let e = checkModel(model, input: x, seed: 35, h: 1e-2, samples: 80)
            #expect(e.input < tolerance, "\(layer.kind) k\(kernel) s\(stride): \(e)")
        }
    }

    @Test func globalAveragePoolFlattenAndGELU() {
        let shape = FeatureShape(channels: 3, height: 4, width: 5)
        var probe = Probe(seed: 36)
        let pool = Sequential([GlobalAvgPool(input: shape), Flatten()], inputFeatures: shape.count)
        let x = probe.tensor([2, shape.count])
        let y = pool.forward(x, training: true)
        #expect(y.shape == [2, 3])
        let mean = (0..<20).reduce(Float(0)) { $0 + x[60 + $1] } / 20
        #expect(abs(y[1, 0] - mean) < 1e-5)
        let e = checkModel(pool, input: x, seed: 37)
        #expect(e.input < tolerance, "global average pool: \(e)")
        let gelu = Sequential([GELU()], inputFeatures: 6)
        let g = checkModel(gelu, input: probe.tensor([4, 6], scale: 3), seed: 38)
        #expect(g.input < tolerance, "gelu: \(g)")
        // PyTorch's exact GELU at 1: 0.8413447.
        let one = gelu.forward(Tensor(shape: [1, 6], repeating: 1), training: false)
        #expect(abs(one[0] - 0.8413447) < 1e-5)
    }

    /// A small CNN end to end: conv (pad) → activation → pool → depthwise conv (stride 2) → GELU → 1×1 conv →
    /// global average pool → flatten → dense; every parameter and the input checked, hooks in backward order.
    /// Smooth (variant 0: GELU, average pool) at the suite's tolerance; with kinks (bit 0: max pool, bit 1: ReLU) a
    /// step of h can cross a kink (a ReLU at 0, a max changing hands) and bend the numeric slope, so those get 2e-2
    /// (each kinked layer alone is checked at the suite's tolerance above).
    @Test(arguments: [0, 1, 2, 3])
    func wholeCNN(variant: Int) {
        let kinks = variant != 0
        let s0 = FeatureShape(channels: 2, height: 8, width: 8)
        let c1 = Conv2D(input: s0, outChannels: 4, kernel: 3, padding: 1)
        let p1: Layer = variant & 1 == 1 ? MaxPool2D(input: c1.output, kernel: 2) : AvgPool2D(input: c1.output, kernel: 2)
        let pooled = FeatureShape(channels: 4, height: 4, width: 4)
        let c2 = Conv2D(input: pooled, outChannels: 4, kernel: 3, stride: 2, padding: 1, groups: 4)
        let c3 = Conv2D(input: c2.output, outChannels: 6, kernel: 1)
        let layers: [Layer] = [
            c1, variant & 2 == 2 ? ReLU() : GELU(), p1, c2, GELU(), c3, GlobalAvgPool(input: c3.output), Flatten(), Dense(6, 3),
        ]
        let model = Sequential(layers, inputFeatures: s0.count)
        model.initialize(.heNormal, seed: 39)
        var seen: [Int] = []
        model.onLayerGradientsReady = { seen.append($0) }
        var probe = Probe(seed: 41)
        let x = probe.tensor([2, s0.count])
        let e = checkModel(model, input: x, seed: 40, h: kinks ? 1e-3 : 1e-2, samples: 150)
        let tol = variant == 0 ? tolerance : 2e-2
        #expect(e.params < tol && e.input < tol, "cnn (variant \(variant)): \(e)")
        #expect(Array(seen.prefix(layers.count)) == Array((0..<layers.count).reversed()))
    }

    @Test func shapesFLOPsAndPyTorchNames() {
        let conv = Conv2D(input: FeatureShape(channels: 4, height: 9, width: 9), outChannels: 6, kernel: 3, stride: 2, groups: 2)
        #expect(conv.output == FeatureShape(channels: 6, height: 4, width: 4))
        #expect(conv.outputFeatures(forInput: 4 * 81) == 6 * 16 && conv.outputFeatures(forInput: 100) == nil)
        #expect(conv.parameterCount == 6 * 2 * 9 + 6)
        #expect(conv.trainingFLOPs(input: 324) == 6 * Double(6 * 18 * 16) + 2 * 96)
        #expect(conv.trainingFLOPs(input: 324, needInputGradient: false) == 4 * Double(6 * 18 * 16) + 2 * 96)
        let model = Sequential([conv], inputFeatures: 324)
        #expect(model.namedParameters.map(\.name) == ["0.weight", "0.bias"])
        #expect(conv.exportedParameters.map(\.shape) == [[6, 2, 3, 3], [6]])
        #expect(
            Conv2D.problem(
                input: FeatureShape(channels: 1, height: 2, width: 2), outChannels: 1, kernel: 3, stride: 1, padding: 0, groups: 1
            )?.key == "kernel")
        #expect(
            Conv2D.problem(
                input: FeatureShape(channels: 3, height: 5, width: 5), outChannels: 4, kernel: 3, stride: 1, padding: 0, groups: 3
            )?.key == "groups")
        #expect(
            Conv2D.problem(
                input: FeatureShape(channels: 3, height: 5, width: 5), outChannels: 4, kernel: 3, stride: 1, padding: -1,
                groups: 1)?.key == "padding")
        #expect(
            MaxPool2D(input: FeatureShape(channels: 2, height: 7, width: 7), kernel: 2).output
                == FeatureShape(channels: 2, height: 3, width: 3))
    }
}
