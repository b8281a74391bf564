import Foundation

/// One value a search space can give a job key: what YAML can hold under `job:` (a number, a string, a boolean or
/// a list of them, e.g. `model.layers: [784, 256, 10]`).
public enum TuneValue: Codable, Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    case list([TuneValue])

    public init(from decoder: any Decoder) throws {
        if var list = try? decoder.unkeyedContainer() {
            var items: [TuneValue] = []
            while !list.isAtEnd { items.append(try list.decode(TuneValue.self)) }
            self = .list(items)
            return
        }
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Int.self) {
            self = .int(v)
        } else if let v = try? c.decode(Double.self) {
            self = .double(v)
        } else if let v = try? c.decode(Bool.self) {
            self = .bool(v)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .list(let v): try c.encode(v)
        }
    }

    /// The value as YAML flow text (what a trial's job file holds).
    public var yaml: String {
        switch self {
        case .int(let v): return "\(v)"
        case .double(let v): return v.isFinite ? "\(v)" : ".nan"
        case .bool(let v): return v ? "true" : "false"
        case .string(let v):
            return "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case .list(let v): return "[" + v.map(\.yaml).joined(separator: ", ") + "]"
        }
    }

    public var description: String {
        switch self {
        case .string(let v): return v
        case .double(let v): return String(format: "%.6g", v)
        case .list(let v): return "[" + v.map(\.description).joined(separator: " ") + "]"
        default: return yaml
        }
    }

    /// A number as Double (for plots and tables); nil for strings, booleans and lists.
    public var number: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }
}
