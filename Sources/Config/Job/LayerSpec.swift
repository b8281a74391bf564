import NN

/// One item of the layer-list form of `model.layers`: `{dense: 256}`, `{activation: relu}` or `{dropout: 0.2}`.
/// A one-key mapping per layer (not a width list) so new layer kinds can be added with their own settings.
/// Names and ranges are checked while decoding, so a bad item is an error on its own line.
public enum LayerSpec: Codable, Sendable, Equatable {
    case dense(Int)
    case activation(String)
    case dropout(Float)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dense, activation, dropout
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
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .dense(let width): try c.encode(width, forKey: .dense)
        case .activation(let name): try c.encode(name, forKey: .activation)
        case .dropout(let p): try c.encode(p, forKey: .dropout)
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
