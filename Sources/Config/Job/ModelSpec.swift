import NN

/// The `model:` section, in one of two forms under the same `layers` key:
///  - widths: `layers: [784, 256, 128, 10]` with one `activation` (and `dropout`) between the Dense layers;
///  - a layer list: `input: 784` and `layers: [{dense: 256}, {activation: relu}, {dense: 10}]` (see `LayerSpec`);
///    convolutional layers need the example's shape: `input: [1, 28, 28]` (channels, height, width; rows hold it
///    NCHW, see `FeatureShape`).
/// The first item decides the form: a mapping starts a layer list, anything else is read as a width list
/// exactly as before the layer list existed.
public struct ModelSpec: Codable, Sendable, Equatable {
    /// Layer widths including input and output, e.g. [784, 256, 128, 10]. For a layer list: the input width and
    /// each Dense layer's width, so everything that only needs widths (data checks, summaries, stage counts) works
    /// on both forms. Assigning widths (a `--layers` flag, a recipe) means the width form: it drops `stack`.
    public var layers: [Int] = [784, 256, 128, 10] {
        didSet {
            stack = nil
            inputShape = nil
        }
    }
    /// relu | sigmoid | tanh | gelu
    public var activation: String = "relu"
    public var dropout: Float = 0
    /// uniform | normal | xavier_uniform | xavier_normal | he_uniform | he_normal
    public var initializer: String = "he_normal"
    /// The layer list when the model was given in that form; nil for the width form.
    public internal(set) var stack: [LayerSpec]? = nil
    /// `input` when it was given as a shape ([C, H, W]); nil for a width. Only with a layer list.
    public internal(set) var inputShape: [Int]? = nil

    public init() {}

    /// A model in the layer-list form.
    public init(input: Int, stack: [LayerSpec]) {
        setStack(input: input, stack)
    }

    /// A model in the layer-list form whose input is a [C, H, W] feature map.
    public init(input shape: FeatureShape, stack: [LayerSpec]) {
        setStack(input: shape.count, stack, shape: [shape.channels, shape.height, shape.width])
    }

    enum CodingKeys: String, CodingKey {
        case input, layers, activation, dropout
        case initializer = "init"
    }

    /// Every layer of the model, in the layer-list form whichever form it was given in.
    public var layerSpecs: [LayerSpec] {
        stack ?? LayerSpec.mlp(widths: layers, activation: activation, dropout: dropout)
    }

    /// Key paths of the batch norms with `sync: true` ("model.layers[i].batchnorm.sync", inside a residual body
    /// "model.layers[i].residual[j].batchnorm.sync"): the parallelism they need is checked against them.
    public var synchronizedBatchNormKeyPaths: [String] { Self.syncedBatchNorms(layerSpecs, at: "model.layers") }

    private static func syncedBatchNorms(_ specs: [LayerSpec], at path: String) -> [String] {
        specs.enumerated().flatMap { i, spec -> [String] in
            switch spec {
            case .batchnorm(let n) where n.sync == true: return ["\(path)[\(i)].batchnorm.sync"]
            case .residual(let body): return syncedBatchNorms(body, at: "\(path)[\(i)].residual")
            default: return []
            }
        }
    }

    private mutating func setStack(input: Int, _ specs: [LayerSpec], shape: [Int]? = nil) {
        var widths = [input]
        for case .dense(let width) in specs { widths.append(width) }
        let feature = shape.flatMap { $0.count == 3 ? FeatureShape(channels: $0[0], height: $0[1], width: $0[2]) : nil }
        layers = ModelSpec.widths(input: feature ?? FeatureShape(flat: input), specs) ?? widths
        // A layer list carries its own activations and dropout: the width form's settings go back to their
        // defaults so two equal layer lists compare equal whatever recipe they overlaid.
        activation = ModelSpec().activation
        dropout = ModelSpec().dropout
        stack = specs
        inputShape = shape
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        try overlay(from: decoder)
    }

    mutating func overlay(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if try Self.isLayerList(c) {
            for key in [CodingKeys.activation, .dropout] where c.contains(key) {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "only with a width list: give {\(key.stringValue): …} items in layers")
            }
            let (input, shape) = try Self.decodeInput(c)
            setStack(input: input, try c.decode([LayerSpec].self, forKey: .layers), shape: shape)
        } else {
            if c.contains(.input) {
                throw DecodingError.dataCorruptedError(
                    forKey: .input, in: c,
                    debugDescription: "only with a list of layers like [{dense: 256}, …]; a width list starts with the input")
            }
            if let widths = try c.decodeIfPresent([Int].self, forKey: .layers) { layers = widths }
            activation = try c.decodeIfPresent(String.self, forKey: .activation) ?? activation
            dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? dropout
        }
        initializer = try c.decodeIfPresent(String.self, forKey: .initializer) ?? initializer
    }

    /// `input: 784` (a width) or `input: [1, 28, 28]` (a shape [C, H, W]; the width is its product).
    private static func decodeInput(_ c: KeyedDecodingContainer<CodingKeys>) throws -> (Int, [Int]?) {
        if let width = try? c.decode(Int.self, forKey: .input) {
            guard width >= 1 else {
                throw DecodingError.dataCorruptedError(forKey: .input, in: c, debugDescription: "must be ≥ 1, got \(width)")
            }
            return (width, nil)
        }
        guard let shape = try? c.decode([Int].self, forKey: .input) else { return (try c.decode(Int.self, forKey: .input), nil) }
        guard shape.count == 3, shape.allSatisfy({ (1...65536).contains($0) }) else {
            throw DecodingError.dataCorruptedError(
                forKey: .input, in: c,
                debugDescription: "expected a width or a shape [channels, height, width], each in 1...65536, got \(shape)")
        }
        return (shape.reduce(1, *), shape)
    }

    /// Whether `layers` is present and its first item is a mapping.
    private static func isLayerList(_ c: KeyedDecodingContainer<CodingKeys>) throws -> Bool {
        guard c.contains(.layers) else { return false }
        var probe = try c.nestedUnkeyedContainer(forKey: .layers)
        guard !probe.isAtEnd else { return false }
        return (try? probe.nestedContainer(keyedBy: AnyCodingKey.self)) != nil
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if let stack, let input = layers.first {
            if let inputShape { try c.encode(inputShape, forKey: .input) } else { try c.encode(input, forKey: .input) }
            try c.encode(stack, forKey: .layers)
        } else {
            try c.encode(layers, forKey: .layers)
            try c.encode(activation, forKey: .activation)
            try c.encode(dropout, forKey: .dropout)
        }
        try c.encode(initializer, forKey: .initializer)
    }
}

/// Accepts any key: for looking at a mapping without deciding its type.
struct AnyCodingKey: CodingKey {
    let stringValue: String
    init(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}
