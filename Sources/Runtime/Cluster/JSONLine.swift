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
