import Foundation
import Yams

/// Decodes any `Decodable` from YAML strictly (see `YAMLNodeDecoder`), turning every failure into one `ConfigError`
/// with the file, line and key path: YAML syntax errors, unknown/duplicate/missing keys, wrong types, and
/// `DecodingError`s thrown by custom `init(from:)` code (e.g. an unknown enum value).
public struct StrictYAMLDecoder: Sendable {
    public init() {}

    /// Decodes `type` from YAML text; `file` is only used in error messages.
    public func decode<T: Decodable>(_ type: T.Type, from yaml: String, file: String = "<string>") throws(ConfigError) -> T {
        let root = try Self.compose(yaml, file: file)
        return try decode(type, from: root, file: file)
    }

    /// Decodes `type` from an already composed node tree (so callers can keep the tree to place later errors).
    public func decode<T: Decodable>(_ type: T.Type, from root: Node, file: String) throws(ConfigError) -> T {
        do {
            return try T(from: YAMLNodeDecoder(node: root, codingPath: [], file: file))
        } catch let error as ConfigError {
            throw error
        } catch let error as DecodingError {
            throw Self.configError(from: error, root: root, file: file)
        } catch {
            throw ConfigError(file: file, line: nil, keyPath: "", message: "\(error)")
        }
    }

    /// Parses YAML text into a node tree; an empty document is an error (a config file must say something).
    public static func compose(_ yaml: String, file: String) throws(ConfigError) -> Node {
        try YAMLLimits.check(yaml, file: file)
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error, file: file)
        } catch {
            throw ConfigError(file: file, line: nil, keyPath: "", message: "invalid YAML: \(error)")
        }
        guard let node else { throw ConfigError(file: file, line: nil, keyPath: "", message: "the file is empty") }
        return node
    }

    /// The line of the deepest node that exists along `path` (for a missing key: its parent mapping).
    public static func line(of path: [any CodingKey], in root: Node) -> Int? {
        var node = root
        for key in path {
            switch node {
            case .mapping(let mapping):
                guard let next = mapping[key.stringValue] else { return node.mark?.line }
                node = next
            case .sequence(let sequence):
                guard let index = key.intValue, sequence.indices.contains(index) else { return node.mark?.line }
                node = sequence[index]
            case .scalar:
                return node.mark?.line
            }
        }
        return node.mark?.line
    }

    static func configError(from error: DecodingError, root: Node, file: String) -> ConfigError {
        let message: String
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(let type, let c):
            (message, path) = (c.debugDescription.isEmpty ? "expected a value of type \(type)" : c.debugDescription, c.codingPath)
        case .valueNotFound(let type, let c):
            (message, path) = ("expected a value of type \(type), got null", c.codingPath)
        case .keyNotFound(let key, let c):
            (message, path) = ("missing required key", c.codingPath + [key])
        case .dataCorrupted(let c):
            (message, path) = (c.debugDescription, c.codingPath)
        @unknown default:
            return ConfigError(file: file, line: nil, keyPath: "", message: "\(error)")
        }
        return ConfigError(file: file, line: line(of: path, in: root), keyPath: renderKeyPath(path), message: message)
    }

    static func syntaxError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) (\($0.text) at line \($0.mark.line))" } ?? problem
            return ConfigError(file: file, line: mark.line, keyPath: "", message: "YAML syntax error: \(detail)")
        case .reader(let problem, _, _, _):
            return ConfigError(file: file, line: nil, keyPath: "", message: "cannot read YAML: \(problem)")
        default:
            return ConfigError(file: file, line: nil, keyPath: "", message: "invalid YAML: \(error)")
        }
    }
}
