import Foundation

/// The one encoder of every JSON line cohort writes (metrics files, `--json` stdout, done and event lines), so they
/// all follow the same rules: keys sorted, slashes not escaped, one object per line, and a non-finite number
/// (NaN, ±∞: a diverged loss, an accuracy never measured) written as `null` — JSON has no such numbers, and a
/// reader then sees "no value" rather than a string where a number belongs.
public enum JSONLine {
    /// Stands in for non-finite floats during encoding and is replaced by `null` afterwards (JSONEncoder can only
    /// write them as strings). Control characters make a clash with a real string value practically impossible.
    private static let nonFinite = "\u{1}cohort-non-finite\u{1}"
    private static let nonFiniteJSON = Data("\"\\u0001cohort-non-finite\\u0001\"".utf8)

    /// `value` as one line of JSON, without the newline.
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFinite, negativeInfinity: nonFinite, nan: nonFinite)
        var data = try encoder.encode(value)
        while let r = data.range(of: nonFiniteJSON) { data.replaceSubrange(r, with: Data("null".utf8)) }
        return unquoteFixed(data)
    }

    /// A number written with a fixed count of decimals (`12.50`), as the benchmark lines always printed theirs,
    /// so their columns compare by eye; non-finite values are null like every other number.
    public struct Fixed: Encodable, Sendable {
        public var value: Double
        public var digits: Int
        public init(_ value: Double, digits: Int) {
            self.value = value
            self.digits = digits
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            if value.isFinite {
                try c.encode(JSONLine.fixedMark + String(format: "%.\(digits)f", value) + JSONLine.fixedMark)
            } else {
                try c.encode(value)
            }
        }
    }

    private static let fixedMark = "\u{2}"
    private static let fixedOpen = Data("\"\\u0002".utf8)
    private static let fixedClose = Data("\\u0002\"".utf8)

    /// Turns each `Fixed`'s marked string back into the bare number it stands for.
    private static func unquoteFixed(_ data: Data) -> Data {
        var data = data
        var from = data.startIndex
        while let open = data.range(of: fixedOpen, in: from..<data.endIndex),
            let close = data.range(of: fixedClose, in: open.upperBound..<data.endIndex)
        {
            let number = data.subdata(in: open.upperBound..<close.lowerBound)
            data.replaceSubrange(open.lowerBound..<close.upperBound, with: number)
            from = open.lowerBound + number.count
        }
        return data
    }

    /// `value` as one line of JSON text (for stdout); `{}` if it cannot be encoded at all.
    public static func string<T: Encodable>(_ value: T) -> String {
        String(decoding: (try? encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Prints `value` as one line on stdout.
    public static func print<T: Encodable>(_ value: T) {
        FileHandle.standardOutput.write(Data((string(value) + "\n").utf8))
    }
}
