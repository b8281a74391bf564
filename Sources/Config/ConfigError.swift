import Foundation

/// A problem in a configuration file, reported on one line as `FILE:LINE: KEY.PATH: MESSAGE`
/// (e.g. `cluster.yaml:12: job.optimizer.lr: expected a number, got "fast"`), so a user can jump straight to it.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The file as the user named it (or `<string>` for text that came from no file).
    public var file: String
    /// 1-based line of the offending key or value; nil when the problem has no place (unreadable file).
    public var line: Int?
    /// Dotted key path with list indices, e.g. `hosts[1].workers`; empty for the whole document.
    public var keyPath: String
    public var message: String

    public init(file: String, line: Int?, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if !keyPath.isEmpty { text += keyPath + ": " }
        return text + message
    }

    public var errorDescription: String? { description }
}

/// One step of a key path: a mapping key or a list index. Used to build coding paths for errors and validation.
public struct ConfigKey: CodingKey, Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var stringValue: String
    public var intValue: Int?

    public init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }
    public init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
    public init(stringLiteral value: String) { self.init(stringValue: value) }
    public init(integerLiteral value: Int) { self.init(intValue: value) }
}

/// Renders a coding path the way users write it: `hosts[1].workers`, `job.optimizer.lr`.
public func renderKeyPath(_ path: [any CodingKey]) -> String {
    var text = ""
    for key in path {
        if let index = key.intValue, key.stringValue == "\(index)" || key.stringValue.hasPrefix("Index ") {
            text += "[\(index)]"
        } else {
            if !text.isEmpty { text += "." }
            text += key.stringValue
        }
    }
    return text
}
