import ArgumentParser
import Config
import Foundation
import Runtime

/// A comma-separated option value (`--layers 784,256,10`, `--sizes 4096,65536`): the one way every command reads
/// one. Items are trimmed and each must parse as `Element`; an empty item or a bad one is an error naming the
/// option and the item, never silently dropped (a dropped size would quietly benchmark something else).
///
/// Declare with `transform: CommaList.parse` so ArgumentParser reports the failing item:
/// `The value '784,x' is invalid for '--layers <layers>': item "x" is not a valid integer`.
struct CommaList<Element: ExpressibleByArgument>: ExpressibleByArgument, CustomStringConvertible {
    let items: [Element]
    /// The text it was given (or the items joined), passed on as is to child processes.
    let text: String

    init(_ items: [Element]) {
        self.items = items
        self.text = items.map(\.defaultValueDescription).joined(separator: ",")
    }

    init(parsing text: String) throws(CommaListError) {
        var items: [Element] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.trimmingCharacters(in: .whitespaces)
            guard let value = Element(argument: item) else { throw CommaListError(item: item, of: Element.self) }
            items.append(value)
        }
        self.items = items
        self.text = text
    }

    init?(argument: String) { try? self.init(parsing: argument) }

    /// For `@Option(transform:)`: the thrown error's text names the bad item.
    static func parse(_ text: String) throws -> CommaList { try CommaList(parsing: text) }

    var description: String { text }
    var defaultValueDescription: String { text }
}

/// One bad item of a comma-separated option.
struct CommaListError: Error, CustomStringConvertible {
    let item: String
    let expected: String

    init<T: ExpressibleByArgument>(item: String, of type: T.Type) {
        self.item = item
        if !T.allValueStrings.isEmpty {
            expected = "one of " + T.allValueStrings.joined(separator: ", ")
        } else if T.self == Int.self {
            expected = "an integer"
        } else {
            expected = "a valid \(T.self)"
        }
    }

    var description: String { item.isEmpty ? "an empty item (expected \(expected))" : "item \"\(item)\" is not \(expected)" }
}

extension PipelineSchedule: ExpressibleByArgument {}
extension GradientCompression: ExpressibleByArgument {}
