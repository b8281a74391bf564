import Foundation
import Runtime
import Training

/// One `--json` line of a benchmark, written by `JSONLine` like every other JSON line (keys sorted, non-finite
/// numbers null). Measured figures keep their fixed decimals (`.fixed`), as these lines always printed them.
struct BenchLine: Encodable {
    enum Value: Encodable {
        case string(String)
        case int(Int)
        case bool(Bool)
        case fixed(Double, digits: Int)
        case fixedList([Double], digits: Int)

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .string(let s): try c.encode(s)
            case .int(let n): try c.encode(n)
            case .bool(let b): try c.encode(b)
            case .fixed(let x, let digits): try c.encode(JSONLine.Fixed(x, digits: digits))
            case .fixedList(let xs, let digits): try c.encode(xs.map { JSONLine.Fixed($0, digits: digits) })
            }
        }
    }

    var fields: [(String, Value)]

    init(_ fields: [(String, Value)]) { self.fields = fields }

    private struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (name, value) in fields { try c.encode(value, forKey: Key(stringValue: name)) }
    }

    /// The line as text (`JSONLine.string`).
    var text: String { JSONLine.string(self) }
}
