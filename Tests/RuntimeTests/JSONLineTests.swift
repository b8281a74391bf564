import Foundation
import Runtime
import Testing
import Training

@Suite struct JSONLineTests {
    private struct Record: Encodable {
        var zeta: Double
        var alpha: Float
        var path: String
        var values: [Double]
        var label: String
    }

    /// One rule for every writer: sorted keys, unescaped slashes, non-finite numbers as null.
    @Test func sortedKeysAndNonFiniteAsNull() throws {
        let r = Record(zeta: .nan, alpha: 0.5, path: "a/b", values: [1, .infinity, -.infinity], label: "nan")
        let text = JSONLine.string(r)
        #expect(text == #"{"alpha":0.5,"label":"nan","path":"a/b","values":[1,null,null],"zeta":null}"#)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(parsed["zeta"] is NSNull)
    }

    @Test func jsonLinesWriterUsesTheSameRule() throws {
        let path = NSTemporaryDirectory() + "cohort-jsonline-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try JSONLinesWriter(path: path)
        try writer.write(["loss": Double.nan])
        try writer.write(["loss": 2.5])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"loss\":null}\n{\"loss\":2.5}\n")
        #expect(JSONLinesWriter.line(["x": Float.infinity]) == #"{"x":null}"#)
    }
}

@Suite struct JSONLineFixedTests {
    @Test func fixedDecimalsAreBareNumbersAndNonFiniteIsNull() throws {
        let line = JSONLine.string(["a": JSONLine.Fixed(12.5, digits: 2), "b": JSONLine.Fixed(.nan, digits: 1)])
        #expect(line == #"{"a":12.50,"b":null}"#)
        let nested = JSONLine.string(["x": [JSONLine.Fixed(0.12345, digits: 3), JSONLine.Fixed(-1, digits: 1)]])
        #expect(nested == #"{"x":[0.123,-1.0]}"#)
    }
}
