import Foundation
import Yams

/// A `Decoder` over a composed Yams node tree that is strict where Yams' own decoder is lenient:
/// a mapping key that the target type's `CodingKeys` does not accept is an error (not silently ignored),
/// a quoted `"10"` is not a number, `08` is not octal, and every error carries the line of the node it is about.
/// Errors are thrown as `ConfigError` directly, so they survive any `init(from:)` in between unchanged.
final class YAMLNodeDecoder: Decoder {
    let node: Node
    let codingPath: [any CodingKey]
    let file: String
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: Node, codingPath: [any CodingKey], file: String) {
        self.node = node
        self.codingPath = codingPath
        self.file = file
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = node else {
            throw error(expected: "a mapping of keys", node: node, path: codingPath)
        }
        return KeyedDecodingContainer(try KeyedNodeContainer<Key>(mapping: mapping, decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let sequence) = node else {
            throw error(expected: "a list", node: node, path: codingPath)
        }
        return UnkeyedNodeContainer(sequence: sequence, decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // MARK: errors

    func error(at node: Node?, path: [any CodingKey], _ message: String) -> ConfigError {
        ConfigError(file: file, line: node?.mark?.line, keyPath: renderKeyPath(path), message: message)
    }

    func error(expected: String, node: Node, path: [any CodingKey]) -> ConfigError {
        var message = "expected \(expected), got \(describe(node))"
        if case .scalar(let scalar) = node, !isPlain(scalar), expected != "a string" {
            message += " (quoted, so a string: drop the quotes)"
        }
        return error(at: node, path: path, message)
    }

    func child(_ node: Node, _ key: any CodingKey) -> YAMLNodeDecoder {
        YAMLNodeDecoder(node: node, codingPath: codingPath + [key], file: file)
    }
}

/// How a node reads in an error message: scalars quoted as written, collections by kind.
func describe(_ node: Node) -> String {
    switch node {
    case .scalar(let scalar):
        if isNull(scalar) { return "null" }
        let text = scalar.string.count > 60 ? String(scalar.string.prefix(57)) + "..." : scalar.string
        return "\"" + text.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    }
}

func isPlain(_ scalar: Node.Scalar) -> Bool { scalar.style == .plain || scalar.style == .any }

func isNull(_ scalar: Node.Scalar) -> Bool {
    isPlain(scalar) && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
}

// MARK: - Scalars

extension YAMLNodeDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool {
        if case .scalar(let scalar) = node { return isNull(scalar) }
        return false
    }

    private func scalar(expected: String) throws -> Node.Scalar {
        guard case .scalar(let scalar) = node, !isNull(scalar) else {
            throw error(expected: expected, node: node, path: codingPath)
        }
        return scalar
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        let scalar = try scalar(expected: "true or false")
        if isPlain(scalar) {
            switch scalar.string.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: break
            }
        }
        throw error(expected: "true or false", node: node, path: codingPath)
    }

    func decode(_ type: String.Type) throws -> String {
        try scalar(expected: "a string").string
    }

    func decode(_ type: Double.Type) throws -> Double {
        let scalar = try scalar(expected: "a number")
        if isPlain(scalar) {
            let text = scalar.string.replacingOccurrences(of: "_", with: "")
            // No setting means anything as ∞ or NaN, and NaN would pass every later range check (all comparisons
            // are false): non-finite numbers stop here, with the line.
            if [".inf", "+.inf", "-.inf", ".nan"].contains(text.lowercased()) {
                throw error(at: node, path: codingPath, "must be a finite number, got \(text)")
            }
            if let value = Double(text) {
                guard value.isFinite else {
                    throw error(at: node, path: codingPath, "\(text) is out of the range of a 64-bit float")
                }
                return value
            }
        }
        throw error(expected: "a number", node: node, path: codingPath)
    }

    func decode(_ type: Float.Type) throws -> Float {
        let value = try decode(Double.self)
        let float = Float(value)
        if value.isFinite && !float.isFinite {
            throw error(at: node, path: codingPath, "\(value) is out of the range of a 32-bit float")
        }
        return float
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        let expected = I.isSigned ? "an integer" : "a non-negative integer"
        let scalar = try scalar(expected: expected)
        if isPlain(scalar) {
            var text = Substring(scalar.string.replacingOccurrences(of: "_", with: ""))
            let negative = text.hasPrefix("-")
            if negative || text.hasPrefix("+") { text = text.dropFirst() }
            if negative && !I.isSigned { throw error(expected: expected, node: node, path: codingPath) }
            var radix = 10
            if text.hasPrefix("0x") {
                radix = 16
                text = text.dropFirst(2)
            }
            if !text.isEmpty, text.allSatisfy({ $0.isHexDigit }) {
                if let value = I((negative ? "-" : "") + text, radix: radix) { return value }
                // All digits but not representable: say so instead of a vague type error.
                if radix == 10 && text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    throw error(
                        at: node, path: codingPath,
                        "\(scalar.string) is out of range (\(I.min)...\(I.max))")
                }
            }
        }
        throw error(expected: expected, node: node, path: codingPath)
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(UInt64.self) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }
}

// MARK: - Mappings

struct KeyedNodeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: YAMLNodeDecoder
    let mapping: Node.Mapping
    /// Values by key text; keys were checked against `Key` (unknown and duplicate keys throw) when the container was made.
    let values: [String: Node]
    let allKeys: [Key]
    var codingPath: [any CodingKey] { decoder.codingPath }

    init(mapping: Node.Mapping, decoder: YAMLNodeDecoder) throws {
        self.decoder = decoder
        self.mapping = mapping
        var values: [String: Node] = [:]
        var keys: [Key] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw decoder.error(
                    at: keyNode, path: decoder.codingPath, "a mapping key must be a plain word, got \(describe(keyNode))")
            }
            let name = keyScalar.string
            let path = decoder.codingPath + [ConfigKey(stringValue: name)]
            guard let key = Key(stringValue: name) else {
                throw decoder.error(at: keyNode, path: path, "unknown key")
            }
            if values[name] != nil {
                throw decoder.error(at: keyNode, path: path, "duplicate key")
            }
            values[name] = value
            keys.append(key)
        }
        self.values = values
        self.allKeys = keys
    }

    func contains(_ key: Key) -> Bool { values[key.stringValue] != nil }

    private func value(_ key: Key) throws -> Node {
        guard let node = values[key.stringValue] else {
            throw decoder.error(at: .mapping(mapping), path: codingPath + [key], "missing required key")
        }
        return node
    }

    private func child(_ key: Key) throws -> YAMLNodeDecoder { decoder.child(try value(key), key) }

    func decodeNil(forKey key: Key) throws -> Bool { try child(key).decodeNil() }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try child(key).decode(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try child(key).decode(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try child(key).decode(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try child(key).decode(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try child(key).decode(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try child(key).decode(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try child(key).decode(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try child(key).decode(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try child(key).decode(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try child(key).decode(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try child(key).decode(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try child(key).decode(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try child(key).decode(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try child(key).decode(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try T(from: child(key)) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try child(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { try child(key) }
}

// MARK: - Lists

struct UnkeyedNodeContainer: UnkeyedDecodingContainer {
    let sequence: Node.Sequence
    let decoder: YAMLNodeDecoder
    var currentIndex = 0
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { sequence.count }
    var isAtEnd: Bool { currentIndex >= sequence.count }

    init(sequence: Node.Sequence, decoder: YAMLNodeDecoder) {
        self.sequence = sequence
        self.decoder = decoder
    }

    private mutating func next() throws -> YAMLNodeDecoder {
        guard !isAtEnd else {
            throw decoder.error(at: .sequence(sequence), path: codingPath, "the list has too few items (\(sequence.count))")
        }
        let node = sequence[currentIndex]
        let child = decoder.child(node, ConfigKey(intValue: currentIndex))
        currentIndex += 1
        return child
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if case .scalar(let scalar) = sequence[currentIndex], isNull(scalar) {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decode(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next().decode(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().decode(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next().decode(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().decode(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decode(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decode(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decode(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decode(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decode(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decode(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decode(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decode(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decode(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: next()) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try next() }
}
