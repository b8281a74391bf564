/// Bounds checked on the raw text before the YAML parser sees it: libyaml and Yams recurse once per nesting
/// level, so 200,000 nested `[` overflowed the stack (a segfault, not an error), and a config file has no use for
/// more than a few levels or more than a few hundred kilobytes.
enum YAMLLimits {
    /// Deeper than any cluster file needs (cluster.yaml nests 4 levels) and far below the parser's stack use.
    static let maximumDepth = 64
    /// Bytes in one config file.
    static let maximumBytes = 1 << 20

    /// Throws, naming the line, when the text is too large or nests flow collections or indentation too deeply.
    /// Counts flow brackets outside quotes and comments, and block indentation in steps of at least one space.
    static func check(_ yaml: String, file: String) throws(ConfigError) {
        guard yaml.utf8.count <= maximumBytes else {
            throw ConfigError(
                file: file, line: nil, keyPath: "",
                message: "\(yaml.utf8.count) bytes is more than a config file may hold (\(maximumBytes))")
        }
        var scan = Scan()
        for byte in yaml.utf8 {
            if let problem = scan.step(byte) { throw tooDeep(file, scan.line, problem) }
        }
    }

    /// The scanner's state: flow-bracket depth outside quoted scalars and comments, and the current indentation.
    private struct Scan {
        var line = 1
        private var flowDepth = 0, indent = 0
        private var quote: UInt8? = nil, comment = false, atLineStart = true
        private var previous: UInt8 = UInt8(ascii: " ")

        /// Consumes one byte; returns what is too deep, if anything.
        mutating func step(_ byte: UInt8) -> String? {
            defer { previous = byte }
            if byte == UInt8(ascii: "\n") {
                line += 1
                comment = false
                atLineStart = true
                indent = 0
                return nil
            }
            if atLineStart {
                if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-") {
                    indent += 1
                    return nil
                }
                atLineStart = false
                // Each block level indents by at least one column (a "- " item by two).
                if indent > 2 * maximumDepth { return "indented \(indent) columns" }
            }
            if comment { return nil }
            if let q = quote {
                if byte == q { quote = nil }
                return nil
            }
            // A quote or # starts a quoted scalar or a comment only where a token can start (not in "don't" or "a#b").
            let tokenStart = [
                UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "["), UInt8(ascii: "{"),
                UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "\n"),
            ].contains(previous)
            switch byte {
            case UInt8(ascii: "\""),
                UInt8(ascii: "'") where tokenStart:
                quote = byte
            case UInt8(ascii: "#") where tokenStart: comment = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flowDepth += 1
                if flowDepth > maximumDepth { return "\(flowDepth) nested brackets" }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): flowDepth = max(0, flowDepth - 1)
            default: break
            }
            return nil
        }
    }

    private static func tooDeep(_ file: String, _ line: Int, _ what: String) -> ConfigError {
        ConfigError(file: file, line: line, keyPath: "", message: "nested more than \(maximumDepth) levels deep (\(what))")
    }
}
