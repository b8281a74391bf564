import Tensors

/// A residual block (He et al.): y = x + f(x), f a chain of layers whose output has the input's width (checked at
/// construction). The identity skip adds no parameters; the body's parameters and buffers are one contiguous slice
/// of the model's flat buffers, laid out body layer by body layer, so a block is all-reduced, checkpointed and
/// placed in a pipeline stage as one layer. Parameter names are "body.<j>.<name>" (a PyTorch module holding
/// `self.body = nn.Sequential(...)`).
///   forward  y = x + f(x)
///   backward dx = dy + ∂f/∂x(dy): dy is copied for the skip before the body (which may overwrite it) runs backward.
public final class Residual: Layer {
    public let body: [Layer]
    public let features: Int
    private let bodyRanges: [Range<Int>]
    private let bodyBufferRanges: [Range<Int>]
    private let outputBuffer = ReusableBuffer()
    private let skipGradient = ReusableBuffer()

    /// Why `body` cannot be a residual body for rows of `features`, or nil when it can.
    public static func problem(body: [Layer], features: Int) -> String? {
        guard !body.isEmpty else { return "needs at least one layer" }
        var width = features
        for (j, layer) in body.enumerated() {
            guard let out = layer.outputFeatures(forInput: width) else {
                return "layer \(j) (\(layer.kind)) cannot take \(width) features"
            }
            width = out
        }
        return width == features ? nil : "the body maps \(features) features to \(width); the skip needs the same width"
    }

    public init(_ body: [Layer], features: Int) {
        if let p = Self.problem(body: body, features: features) { preconditionFailure("Residual: \(p)") }
        self.body = body
        self.features = features
        bodyRanges = consecutiveRanges(body.map(\.parameterCount))
        bodyBufferRanges = consecutiveRanges(body.map(\.bufferCount))
    }

    public var kind: String { "residual" }
    public var parameterCount: Int { bodyRanges.last?.upperBound ?? 0 }
    public var bufferCount: Int { bodyBufferRanges.last?.upperBound ?? 0 }
    public func outputFeatures(forInput n: Int) -> Int? { n == features ? n : nil }

    public var threads: Int {
        get { body.first?.threads ?? 1 }
        set { for layer in body { layer.threads = newValue } }
    }

    /// The body's cost plus the addition forward and the gradient copy and addition backward.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double {
        var width = inputFeatures
        var total = Double(features) * 3
        for (j, layer) in body.enumerated() {
            total += layer.trainingFLOPs(input: width, needInputGradient: needInputGradient || j > 0)
            width = layer.outputFeatures(forInput: width) ?? width
        }
        return total
    }

    public func bind(parameters: Tensor, gradients: Tensor) {
        precondition(parameters.count == parameterCount && gradients.count == parameterCount)
        for (layer, range) in zip(body, bodyRanges) {
            layer.bind(parameters: slice(parameters, range), gradients: slice(gradients, range))
        }
    }

    public func bind(buffers: Tensor) {
        precondition(buffers.count == bufferCount)
        for (layer, range) in zip(body, bodyBufferRanges) where !range.isEmpty { layer.bind(buffers: slice(buffers, range)) }
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        body.enumerated().flatMap { j, layer in layer.namedParameters.map { ("body.\(j).\($0.name)", $0.tensor) } }
    }
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        body.enumerated().flatMap { j, layer in layer.namedBuffers.map { ("body.\(j).\($0.name)", $0.tensor) } }
    }
    public var exportedParameters: [(name: String, shape: [Int], values: [Float])] {
        body.enumerated().flatMap { j, layer in
            (layer.exportedParameters + layer.namedBuffers.map { ($0.name, $0.tensor.shape, $0.tensor.array) }).map {
                ("body.\(j).\($0.name)", $0.shape, $0.values)
            }
        }
    }

    /// "body.<j>.<name>" goes to body layer j.
    public func importParameter(name: String, shape: [Int], values: [Float]) -> Bool {
        let parts = name.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "body", let j = Int(parts[1]), j >= 0, j < body.count else { return false }
        return body[j].importParameter(name: String(parts[2]), shape: shape, values: values)
    }

    public func initialize(_ weights: Initializer, rng: inout Xoshiro256) {
        for layer in body { layer.initialize(weights, rng: &rng) }
    }

    // x: [B, F] → y = x + f(x): [B, F]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 2 && x.columns == features, "Residual over \(features) features given input \(x.shape)")
        var h = x
        for layer in body { h = layer.forward(h, training: training) }
        let y = outputBuffer.view(rows: x.rows, columns: features)
        for i in 0..<y.count { y.pointer[i] = x.pointer[i] + h.pointer[i] }
        return y
    }

    // dy: [B, F] → dx = dy + ∂f/∂x(dy): [B, F]; the body's parameter gradients into its slices.
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        precondition(dy.rank == 2 && dy.columns == features, "Residual.backward given \(dy.shape)")
        let skip = skipGradient.view(rows: dy.rows, columns: features)
        if needInputGradient { skip.pointer.update(from: dy.pointer, count: dy.count) }
        var g: Tensor? = dy
        for j in stride(from: body.count - 1, through: 0, by: -1) {
            g = body[j].backward(g!, accumulate: accumulate, needInputGradient: needInputGradient || j > 0)
        }
        guard needInputGradient, let g else { return nil }
        for i in 0..<skip.count { skip.pointer[i] += g.pointer[i] }
        return skip
    }
}
