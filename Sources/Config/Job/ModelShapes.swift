import NN

/// The shapes flowing through a layer list: each layer's input shape and the model's output, from `model.input`
/// (a width, or a shape [C, H, W] for convolutional models). Every setting that does not fit the shape reaching its
/// layer is a `JobError` under `model.layers[i].<kind>.<setting>`.
extension ModelSpec {
    /// The example's shape at the input: [C, H, W] when `input` was given as a shape, else a flat width.
    public var inputFeatureShape: FeatureShape {
        if let s = inputShape, s.count == 3 { return FeatureShape(channels: s[0], height: s[1], width: s[2]) }
        return FeatureShape(flat: layers.first ?? 0)
    }

    /// Each layer's input shape (one per item of `layerSpecs`) and the model's output shape.
    public func shapeWalk() throws(JobError) -> (inputs: [FeatureShape], output: FeatureShape) {
        if let s = inputShape, s.count != 3 || s.contains(where: { $0 < 1 }) {
            throw JobError("model.input", "expected a width or a shape [channels, height, width], each ≥ 1, got \(s)")
        }
        var shape = inputFeatureShape
        var inputs: [FeatureShape] = []
        for (i, spec) in layerSpecs.enumerated() {
            inputs.append(shape)
            shape = try Self.output(of: spec, at: "model.layers[\(i)]", input: shape)
        }
        return (inputs, shape)
    }

    /// The input shape of each layer of `specs` (a residual body) for `input`; the keys of errors start with `path`.
    public static func walk(_ specs: [LayerSpec], at path: String, input: FeatureShape) throws(JobError) -> (
        inputs: [FeatureShape], output: FeatureShape
    ) {
        var shape = input
        var inputs: [FeatureShape] = []
        for (j, spec) in specs.enumerated() {
            inputs.append(shape)
            shape = try output(of: spec, at: "\(path)[\(j)]", input: shape)
        }
        return (inputs, shape)
    }

    private static func output(of spec: LayerSpec, at path: String, input shape: FeatureShape) throws(JobError) -> FeatureShape {
        func fail(_ key: String, _ message: String) -> JobError {
            JobError("\(path).\(spec.key).\(key)", message + (isFlat(shape) ? flatHint : ""))
        }
        switch spec {
        case .residual(let body):
            let output = try walk(body, at: "\(path).residual", input: shape).output
            guard output == shape else {
                throw JobError("\(path).residual", "the body maps \(shape) to \(output); the skip needs the same shape")
            }
            return shape
        case .dense(let n): return FeatureShape(flat: n)
        case .activation, .dropout, .layernorm, .batchnorm: return shape
        case .flatten: return FeatureShape(flat: shape.count)
        case .globalavgpool: return FeatureShape(flat: shape.channels)
        case .conv(let c):
            if let n = c.inChannels, n != shape.channels {
                throw fail("in", "expects \(n) input channels but the input reaching it is \(shape)")
            }
            if let p = Conv2D.problem(
                input: shape, outChannels: c.out, kernel: c.kernel, stride: c.stride, padding: c.padding, groups: c.groups)
            {
                throw fail(p.key, p.message)
            }
            return Conv2D(
                input: shape, outChannels: c.out, kernel: c.kernel, stride: c.stride, padding: c.padding, groups: c.groups
            ).output
        case .maxpool(let p), .avgpool(let p):
            if let problem = MaxPool2D.problem(input: shape, kernel: p.kernel, stride: p.stride ?? p.kernel) {
                throw fail(problem.key, problem.message)
            }
            return MaxPool2D(input: shape, kernel: p.kernel, stride: p.stride).output
        }
    }

    private static func isFlat(_ s: FeatureShape) -> Bool { s.height == 1 && s.width == 1 }
    private static let flatHint = " (a flat input: give model.input as a shape, e.g. [1, 28, 28])"

    /// The widths `layers` holds for a layer list: the input width, then the output width of every layer with
    /// parameters (so `layers.count − 1` counts the layers a pipeline can cut before), and the model's output width
    /// last when the list ends in a parameterless layer that changes it (a global average pool). Nil when the shapes
    /// do not fit (validation then names the layer).
    static func widths(input: FeatureShape, _ specs: [LayerSpec]) -> [Int]? {
        var walk = ModelSpec()
        walk.layers = [input.count]
        walk.stack = specs
        walk.inputShape = [input.channels, input.height, input.width]
        guard let (inputs, output) = try? walk.shapeWalk() else { return nil }
        var widths = [input.count]
        for (i, spec) in specs.enumerated() where spec.hasParameters {
            widths.append(i + 1 < specs.count ? inputs[i + 1].count : output.count)
        }
        if widths.last != output.count { widths.append(output.count) }
        return widths
    }
}
