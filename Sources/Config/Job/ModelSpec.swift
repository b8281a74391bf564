/// The `model:` section, in one of two forms under the same `layers` key:
///  - widths: `layers: [784, 256, 128, 10]` with one `activation` (and `dropout`) between the Dense layers;
///  - a layer list: `input: 784` and `layers: [{dense: 256}, {activation: relu}, {dense: 10}]` (see `LayerSpec`).
/// The first item decides the form: a mapping starts a layer list, anything else is read as a width list
/// exactly as before the layer list existed.
public struct ModelSpec: Codable, Sendable, Equatable {
    /// Layer widths including input and output, e.g. [784, 256, 128, 10]. For a layer list: the input width and
    /// each Dense layer's width, so everything that only needs widths (data checks, summaries, stage counts) works
    /// on both forms. Assigning widths (a `--layers` flag, a recipe) means the width form: it drops `stack`.
    public var layers: [Int] = [784, 256, 128, 10] {
        didSet { stack = nil }
    }
    /// relu | sigmoid | tanh
    public var activation: String = "relu"
    public var dropout: Float = 0
    /// uniform | normal | xavier_uniform | xavier_normal | he_uniform | he_normal
    public var initializer: String = "he_normal"
    /// The layer list when the model was given in that form; nil for the width form.
    public private(set) var stack: [LayerSpec]? = nil

    public init() {}

    /// A model in the layer-list form.
    public init(input: Int, stack: [LayerSpec]) {
        setStack(input: input, stack)
    }

    enum CodingKeys: String, CodingKey {
        case input, layers, activation, dropout
        case initializer = "init"
    }

    /// Every layer of the model, in the layer-list form whichever form it was given in.
    public var layerSpecs: [LayerSpec] {
        stack ?? LayerSpec.mlp(widths: layers, activation: activation, dropout: dropout)
    }

    private mutating func setStack(input: Int, _ specs: [LayerSpec]) {
        var widths = [input]
        for case .dense(let width) in specs { widths.append(width) }
        layers = widths
        // A layer list carries its own activations and dropout: the width form's settings go back to their
        // defaults so two equal layer lists compare equal whatever recipe they overlaid.
        activation = ModelSpec().activation
        dropout = ModelSpec().dropout
        stack = specs
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
            let input = try c.decode(Int.self, forKey: .input)
            guard input >= 1 else {
                throw DecodingError.dataCorruptedError(forKey: .input, in: c, debugDescription: "must be ≥ 1, got \(input)")
            }
            setStack(input: input, try c.decode([LayerSpec].self, forKey: .layers))
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
            try c.encode(input, forKey: .input)
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
