import Tensors

/// A chain of layers whose parameters live in ONE flat buffer and whose gradients live in another.
///
/// Layout: layer by layer in order, each layer's slice laid out as the layer says (Dense: K [in, out] then b [out]).
/// So:
///  - the whole gradient is one contiguous buffer (`gradients`) for a data-parallel all-reduce;
///  - any contiguous range of layers is one contiguous slice (`parameterRange(layers:)`), i.e. a pipeline stage
///    (`stage(_:)`) or an all-reduce bucket.
///
/// Backward visits the layers last to first and calls `onLayerGradientsReady` after each layer's parameter
/// gradients are final, so a data-parallel trainer can start reducing the tail of `gradients` while the earlier
/// layers are still running backward (PyTorch DDP's bucketed overlap).
public final class Sequential {
    public let layers: [Layer]
    /// All parameters, [parameterCount].
    public let parameters: Tensor
    /// All gradients, [parameterCount], same layout as `parameters`.
    public let gradients: Tensor
    /// Each layer's slice of the flat buffers (empty for parameterless layers), relative to `parameters`.
    public let layerRanges: [Range<Int>]
    /// Every layer's buffer values (state not trained but saved, e.g. BatchNorm's running statistics), layer by layer
    /// as `parameters` is; [bufferCount], empty for most models. Not all-reduced: see `BatchNorm`.
    public let buffers: Tensor
    /// Each layer's slice of `buffers`.
    public let bufferRanges: [Range<Int>]
    public let inputFeatures: Int
    public let outputFeatures: Int

    /// Compute ∂loss/∂input in `backward` (needed by a pipeline stage other than the first; off by default since
    /// the first layer's input gradient is a whole wasted GEMM).
    public var computesInputGradient = false
    /// Add parameter gradients onto `gradients` instead of overwriting (gradient accumulation over micro-batches;
    /// call `zeroGradients()` before the first).
    public var accumulatesGradients = false
    /// Called during `backward` with a layer index once that layer's parameter gradients (slice
    /// `layerRanges[index]` of `gradients`) are final. Called for parameterless layers too, in backward order.
    public var onLayerGradientsReady: ((Int) -> Void)?

    /// Builds a model for inputs of `inputFeatures` columns, allocating the flat buffers and binding every layer.
    /// Parameters start at zero: call `initialize`.
    public convenience init(_ layers: [Layer], inputFeatures: Int) {
        var width = inputFeatures
        for (i, layer) in layers.enumerated() {
            guard let out = layer.outputFeatures(forInput: width) else {
                preconditionFailure("layer \(i) (\(layer.kind)) cannot take \(width) input features")
            }
            width = out
        }
        let ranges = consecutiveRanges(layers.map(\.parameterCount))
        let bufferRanges = consecutiveRanges(layers.map(\.bufferCount))
        let params = Tensor(shape: [ranges.last?.upperBound ?? 0])
        let grads = Tensor(shape: [params.count])
        let buffers = Tensor(shape: [bufferRanges.last?.upperBound ?? 0])
        self.init(
            layers: layers, parameters: params, gradients: grads, ranges: ranges,
            buffers: buffers, bufferRanges: bufferRanges, inputFeatures: inputFeatures, outputFeatures: width)
        for (i, layer) in layers.enumerated() {
            layer.bind(parameters: slice(params, ranges[i]), gradients: slice(grads, ranges[i]))
            if layer.bufferCount > 0 { layer.bind(buffers: slice(buffers, bufferRanges[i])) }
        }
    }

    private init(
        layers: [Layer], parameters: Tensor, gradients: Tensor, ranges: [Range<Int>],
        buffers: Tensor, bufferRanges: [Range<Int>], inputFeatures: Int, outputFeatures: Int
    ) {
        self.layers = layers
        self.parameters = parameters
        self.gradients = gradients
        self.layerRanges = ranges
        self.buffers = buffers
        self.bufferRanges = bufferRanges
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
    }

    /// A multilayer perceptron: Dense layers of `sizes` (input first, output last) with `activation` (and
    /// dropout when `dropout` > 0) between them; the last Dense gives logits.
    public convenience init(mlp sizes: [Int], activation: Activation = .relu, dropout: Float = 0, dropoutSeed: UInt64 = 0) {
        precondition(sizes.count >= 2, "an MLP needs at least input and output sizes, got \(sizes)")
        var layers: [Layer] = []
        for i in 0..<(sizes.count - 1) {
            layers.append(Dense(sizes[i], sizes[i + 1]))
            if i < sizes.count - 2 {
                layers.append(activation.makeLayer())
                if dropout > 0 { layers.append(Dropout(dropout, seed: SplitMix64.derive(dropoutSeed, UInt64(i)))) }
            }
        }
        self.init(layers, inputFeatures: sizes[0])
    }

    public var parameterCount: Int { parameters.count }

    /// GEMM threads of every layer.
    public var threads: Int {
        get { layers.first?.threads ?? 1 }
        set { for layer in layers { layer.threads = newValue } }
    }

    /// Draws all weights with `weights` (biases zero) from one generator seeded with `seed`, layer by layer.
    public func initialize(_ weights: Initializer, seed: UInt64) {
        var rng = Xoshiro256(seed: seed)
        for layer in layers { layer.initialize(weights, rng: &rng) }
    }

    /// The flat-buffer range of layers `layerRange` (contiguous by construction).
    public func parameterRange(layers layerRange: Range<Int>) -> Range<Int> {
        guard !layerRange.isEmpty else { return 0..<0 }
        return layerRanges[layerRange.lowerBound].lowerBound..<layerRanges[layerRange.upperBound - 1].upperBound
    }

    /// A model made of layers `layerRange` of this one, sharing its layer objects and whose `parameters` and
    /// `gradients` are views into this model's buffers — a pipeline stage. Only one of the two models should be run
    /// at a time (they share layers and their activation buffers).
    public func stage(_ layerRange: Range<Int>) -> Sequential {
        precondition(
            !layerRange.isEmpty && layerRange.lowerBound >= 0 && layerRange.upperBound <= layers.count,
            "stage \(layerRange) out of 0..<\(layers.count)")
        let span = parameterRange(layers: layerRange)
        var width = inputFeatures
        for layer in layers[..<layerRange.lowerBound] { width = layer.outputFeatures(forInput: width)! }
        let input = width
        for layer in layers[layerRange] { width = layer.outputFeatures(forInput: width)! }
        let ranges = layerRanges[layerRange].map { ($0.lowerBound - span.lowerBound)..<($0.upperBound - span.lowerBound) }
        let bufferSpan = bufferRanges[layerRange.lowerBound].lowerBound..<bufferRanges[layerRange.upperBound - 1].upperBound
        let stageBufferRanges = bufferRanges[layerRange].map {
            ($0.lowerBound - bufferSpan.lowerBound)..<($0.upperBound - bufferSpan.lowerBound)
        }
        let model = Sequential(
            layers: Array(layers[layerRange]), parameters: slice(parameters, span),
            gradients: slice(gradients, span), ranges: ranges, buffers: slice(buffers, bufferSpan),
            bufferRanges: stageBufferRanges, inputFeatures: input, outputFeatures: width)
        model.threads = threads
        return model
    }

    /// x: [B, inputFeatures] → [B, outputFeatures]. The result stays valid until the next forward.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 2 && x.columns == inputFeatures, "model expects [batch, \(inputFeatures)], got \(x.shape)")
        var h = x
        for layer in layers { h = layer.forward(h, training: training) }
        return h
    }

    /// dy: [B, outputFeatures] (∂loss/∂output of the last forward) → ∂loss/∂input when `computesInputGradient`.
    /// Writes (or with `accumulatesGradients` adds) every parameter gradient into `gradients`. May overwrite `dy`.
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor? {
        var g: Tensor? = dy
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let needInput = i > 0 || computesInputGradient
            g = layers[i].backward(g!, accumulate: accumulatesGradients, needInputGradient: needInput)
            onLayerGradientsReady?(i)
        }
        return g
    }

    public func zeroGradients() { gradients.zero() }

    /// Parameter views as stored, named "<layer index>.<name>" ("0.kernel" [in, out], "0.bias", "2.kernel", …), in
    /// flat-buffer order. (`saveSafeTensors` writes PyTorch's "0.weight" [out, in] instead.)
    public var namedParameters: [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        for (i, layer) in layers.enumerated() {
            for (name, t) in layer.namedParameters { out.append(("\(i).\(name)", t)) }
        }
        return out
    }

    /// Buffer views named "<layer index>.<name>" ("1.running_mean", …), in buffer order.
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        layers.enumerated().flatMap { i, layer in layer.namedBuffers.map { ("\(i).\($0.name)", $0.tensor) } }
    }

    /// Copies of all parameters (for early stopping's best weights, or a checkpoint).
    public func snapshot() -> [Float] { parameters.array }

    public func load(_ values: [Float]) {
        precondition(values.count == parameters.count, "load: \(values.count) values for \(parameters.count) parameters")
        values.withUnsafeBufferPointer { parameters.pointer.update(from: $0.baseAddress!, count: values.count) }
    }
}

/// Back-to-back ranges of the given lengths starting at 0.
func consecutiveRanges(_ counts: [Int]) -> [Range<Int>] {
    var total = 0
    return counts.map { n in
        defer { total += n }
        return total..<(total + n)
    }
}

/// A 1-D view of elements `range` of a flat tensor.
public func slice(_ flat: Tensor, _ range: Range<Int>) -> Tensor {
    precondition(range.lowerBound >= 0 && range.upperBound <= flat.count, "slice \(range) of \(flat.count)")
    return Tensor(storage: flat.storage, offset: flat.offset + range.lowerBound, shape: [range.count])
}
