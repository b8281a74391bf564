import NN

/// One item of the layer-list form of `model.layers`: `{dense: 256}`, `{activation: relu}`, `{dropout: 0.2}`,
/// `{conv: {out: 32, kernel: 3, stride: 1, padding: 1, groups: 1}}`, `{maxpool: 2}` (or `{maxpool: {kernel: 3,
/// stride: 2}}`), `{avgpool: 2}`, `{globalavgpool: {}}`, `{flatten: {}}`, `{layernorm: {}}` (or `{layernorm: {eps:
/// 1e-5}}`), `{batchnorm: {}}` (or `{batchnorm: {momentum: 0.1, eps: 1e-5, sync: true}}`; per channel of a feature
/// map, per feature of a flat row; `sync`: statistics over all data-parallel replicas, PyTorch's SyncBatchNorm), `{residual: [{conv: …}, {batchnorm: {}}, …]}` (y = x + f(x); the body keeps the shape).
/// A one-key mapping per layer (not a width list) so new layer kinds can be added with their own settings.
/// Names and ranges are checked while decoding, so a bad item is an error on its own line; what depends on the
/// shapes flowing between layers (a kernel larger than its input, groups that do not divide the channels) is
/// checked by `ModelSpec.shapeWalk()` at validation, under `model.layers[i].<kind>.<setting>`.
public enum LayerSpec: Codable, Sendable, Equatable {
    case dense(Int)
    case activation(String)
    case dropout(Float)
    case conv(ConvSpec)
    case maxpool(PoolSpec)
    case avgpool(PoolSpec)
    case globalavgpool
    case flatten
    case layernorm(NormSpec)
    case batchnorm(NormSpec)
    /// y = x + f(x), f the listed layers, which must keep the shape.
    case residual([LayerSpec])

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dense, activation, dropout, conv, maxpool, avgpool, globalavgpool, flatten, layernorm, batchnorm, residual
    }

    /// The key the item is written under.
    public var key: String {
        switch self {
        case .dense: "dense"
        case .activation: "activation"
        case .dropout: "dropout"
        case .conv: "conv"
        case .maxpool: "maxpool"
        case .avgpool: "avgpool"
        case .globalavgpool: "globalavgpool"
        case .flatten: "flatten"
        case .layernorm: "layernorm"
        case .batchnorm: "batchnorm"
        case .residual: "residual"
        }
    }

    /// Whether the layer has parameters (a pipeline stage can start there).
    public var hasParameters: Bool {
        switch self {
        case .dense, .conv, .layernorm, .batchnorm: true
        case .residual(let body): body.contains(where: \.hasParameters)
        default: false
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.allKeys.count == 1, let key = c.allKeys.first else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription:
                        "expected one key (\(CodingKeys.allCases.map(\.rawValue).joined(separator: ", "))) per layer, got \(c.allKeys.count)"
                ))
        }
        switch key {
        case .dense:
            let width = try c.decode(Int.self, forKey: .dense)
            guard width >= 1 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must be ≥ 1, got \(width)")
            }
            self = .dense(width)
        case .activation:
            let name = try c.decode(String.self, forKey: .activation)
            guard Activation(rawValue: name) != nil else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c,
                    debugDescription:
                        "expected one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(name)\"")
            }
            self = .activation(name)
        case .dropout:
            let p = try c.decode(Float.self, forKey: .dropout)
            guard (0..<1).contains(p) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must be in [0, 1), got \(p)")
            }
            self = .dropout(p)
        default:
            self = try Self.decodeSpatial(key, c)
        }
    }

    private static func decodeSpatial(_ key: CodingKeys, _ c: KeyedDecodingContainer<CodingKeys>) throws -> LayerSpec {
        switch key {
        case .conv: return .conv(try c.decode(ConvSpec.self, forKey: key))
        case .maxpool: return .maxpool(try c.decode(PoolSpec.self, forKey: key))
        case .avgpool: return .avgpool(try c.decode(PoolSpec.self, forKey: key))
        case .layernorm:
            let spec = try c.decode(NormSpec.self, forKey: key)
            if spec.momentum != nil || spec.sync != nil {
                let settings = try c.nestedContainer(keyedBy: NormSpec.CodingKeys.self, forKey: key)
                throw DecodingError.dataCorruptedError(
                    forKey: spec.momentum != nil ? .momentum : .sync, in: settings,
                    debugDescription:
                        "unknown key: layernorm keeps no batch statistics (momentum and sync are for batchnorm)")
            }
            return .layernorm(spec)
        case .batchnorm: return .batchnorm(try c.decode(NormSpec.self, forKey: key))
        case .residual:
            let body = try c.decode([LayerSpec].self, forKey: key)
            guard !body.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "needs at least one layer")
            }
            return .residual(body)
        default:
            // {globalavgpool: {}} and {flatten: {}}: an empty mapping (they take no settings).
            let settings = try c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: key)
            if let extra = settings.allKeys.first {
                throw DecodingError.dataCorruptedError(
                    forKey: extra, in: settings, debugDescription: "unknown key: \(key.stringValue) takes no settings")
            }
            return key == .flatten ? .flatten : .globalavgpool
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .dense(let width): try c.encode(width, forKey: .dense)
        case .activation(let name): try c.encode(name, forKey: .activation)
        case .dropout(let p): try c.encode(p, forKey: .dropout)
        case .conv(let spec): try c.encode(spec, forKey: .conv)
        case .maxpool(let spec): try c.encode(spec, forKey: .maxpool)
        case .avgpool(let spec): try c.encode(spec, forKey: .avgpool)
        case .globalavgpool: _ = c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .globalavgpool)
        case .flatten: _ = c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .flatten)
        case .layernorm(let spec): try c.encode(spec, forKey: .layernorm)
        case .batchnorm(let spec): try c.encode(spec, forKey: .batchnorm)
        case .residual(let body): try c.encode(body, forKey: .residual)
        }
    }

    /// The width list's model in this form: Dense layers with `activation` (and dropout when > 0) between them.
    public static func mlp(widths: [Int], activation: String, dropout: Float) -> [LayerSpec] {
        var specs: [LayerSpec] = []
        for (i, width) in widths.dropFirst().enumerated() {
            specs.append(.dense(width))
            guard i < widths.count - 2 else { continue }
            specs.append(.activation(activation))
            if dropout > 0 { specs.append(.dropout(dropout)) }
        }
        return specs
    }
}

/// `{conv: {out: 32, kernel: 3, stride: 1, padding: 1, groups: 1}}`: `out` and `kernel` are required; stride 1,
/// padding 0 and groups 1 by default; `in` (optional) states the input channels, checked against the shape that
/// reaches the layer. Ranges are checked at validation (`ModelSpec.shapeWalk`), naming the setting.
public struct ConvSpec: Codable, Sendable, Equatable {
    public var out: Int
    public var kernel: Int
    public var stride: Int = 1
    public var padding: Int = 0
    public var groups: Int = 1
    public var inChannels: Int? = nil

    public init(out: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1, inChannels: Int? = nil) {
        self.out = out
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.groups = groups
        self.inChannels = inChannels
    }

    enum CodingKeys: String, CodingKey {
        case out, kernel, stride, padding, groups
        case inChannels = "in"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        out = try c.decode(Int.self, forKey: .out)
        kernel = try c.decode(Int.self, forKey: .kernel)
        stride = try c.decodeIfPresent(Int.self, forKey: .stride) ?? 1
        padding = try c.decodeIfPresent(Int.self, forKey: .padding) ?? 0
        groups = try c.decodeIfPresent(Int.self, forKey: .groups) ?? 1
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels)
    }
}

/// `{maxpool: 2}` (a k×k window at stride k) or `{maxpool: {kernel: 3, stride: 2}}`; the same for avgpool.
public struct PoolSpec: Codable, Sendable, Equatable {
    public var kernel: Int
    public var stride: Int?

    public init(kernel: Int, stride: Int? = nil) {
        self.kernel = kernel
        self.stride = stride
    }

    enum CodingKeys: String, CodingKey { case kernel, stride }

    public init(from decoder: any Decoder) throws {
        if let k = try? decoder.singleValueContainer().decode(Int.self) {
            self.init(kernel: k)
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(kernel: try c.decode(Int.self, forKey: .kernel), stride: try c.decodeIfPresent(Int.self, forKey: .stride))
    }

    public func encode(to encoder: any Encoder) throws {
        if stride == nil {
            var c = encoder.singleValueContainer()
            try c.encode(kernel)
        } else {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kernel, forKey: .kernel)
            try c.encodeIfPresent(stride, forKey: .stride)
        }
    }
}

/// `{layernorm: {}}`, `{layernorm: {eps: 1e-5}}`: eps (default 1e-5, PyTorch's) is added to the variance; momentum
/// (only for batch normalisation, default 0.1, PyTorch's) weighs the newest batch in the running statistics; sync
/// (only for batch normalisation, default false) takes the statistics over all data-parallel replicas' rows.
/// The ranges are checked while decoding, so a bad value is an error on its own line.
public struct NormSpec: Codable, Sendable, Equatable {
    public var eps: Float = 1e-5
    public var momentum: Float? = nil
    public var sync: Bool? = nil

    public init(eps: Float = 1e-5, momentum: Float? = nil, sync: Bool? = nil) {
        self.eps = eps
        self.momentum = momentum
        self.sync = sync
    }

    enum CodingKeys: String, CodingKey { case eps, momentum, sync }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        eps = try c.decodeIfPresent(Float.self, forKey: .eps) ?? 1e-5
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum)
        sync = try c.decodeIfPresent(Bool.self, forKey: .sync)
        guard eps.isFinite && eps > 0 && eps <= 1 else {
            throw DecodingError.dataCorruptedError(forKey: .eps, in: c, debugDescription: "must be in (0, 1], got \(eps)")
        }
        if let m = momentum, !(m > 0 && m <= 1) {
            throw DecodingError.dataCorruptedError(forKey: .momentum, in: c, debugDescription: "must be in (0, 1], got \(m)")
        }
    }
}
