import Config
import Runtime
import Testing

/// The strict decoder on its own, with types other than ClusterConfig: it must work for any Codable.
@Suite struct StrictYAMLDecoderTests {
    struct Inner: Codable, Equatable {
        var x: Double
        var tags: [String]
    }
    struct Outer: Codable, Equatable {
        var count: Int
        var small: UInt8
        var ratio: Float
        var flag: Bool
        var maybe: Int?
        var items: [Inner]
        var table: [String: Int]
    }

    let good = """
        count: 0x10
        small: 255
        ratio: 1_000.5
        flag: yes
        items:
          - {x: 1, tags: [a, b]}
          - x: -2.5e3
            tags: []
        table: {a: 1, b: 2}
        """

    @Test func decodesAnyCodable() throws {
        let value = try StrictYAMLDecoder().decode(Outer.self, from: good, file: "t.yaml")
        #expect(
            value
                == Outer(
                    count: 16, small: 255, ratio: 1000.5, flag: true, maybe: nil,
                    items: [Inner(x: 1, tags: ["a", "b"]), Inner(x: -2500, tags: [])],
                    table: ["a": 1, "b": 2]))
    }

    func error(_ yaml: String) -> ConfigError? {
        do {
            _ = try StrictYAMLDecoder().decode(Outer.self, from: yaml, file: "t.yaml")
            return nil
        } catch { return error }
    }

    @Test func integerOverflowAndFloatRange() {
        let overflow = error(good.replacingOccurrences(of: "small: 255", with: "small: 256"))
        #expect(overflow?.description == "t.yaml:2: small: 256 is out of range (0...255)")
        let huge = error(good.replacingOccurrences(of: "ratio: 1_000.5", with: "ratio: 1e300"))
        #expect(huge?.keyPath == "ratio")
        #expect(huge?.message.contains("out of the range of a 32-bit float") == true)
    }

    @Test func errorsInsideListsOfMappingsNameTheIndex() {
        let e = error(good.replacingOccurrences(of: "- x: -2.5e3", with: "- x: lots"))
        #expect(e?.description == "t.yaml:7: items[1].x: expected a number, got \"lots\"")
        let unknown = error(good.replacingOccurrences(of: "tags: []", with: "tags: []\n    color: red"))
        #expect(unknown?.description == "t.yaml:9: items[1].color: unknown key")
    }

    @Test func nullForARequiredValueAndExplicitNullForOptional() throws {
        let e = error(good.replacingOccurrences(of: "count: 0x10", with: "count: null"))
        #expect(e?.description == "t.yaml:1: count: expected an integer, got null")
        let value = try StrictYAMLDecoder().decode(Outer.self, from: good + "\nmaybe: ~", file: "t.yaml")
        #expect(value.maybe == nil)
    }

    @Test func dictionaryValuesAreCheckedToo() {
        let e = error(good.replacingOccurrences(of: "{a: 1, b: 2}", with: "{a: 1, b: two}"))
        #expect(e?.description == "t.yaml:9: table.b: expected an integer, got \"two\"")
    }
}
