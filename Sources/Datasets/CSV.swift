import Foundation
import Tensors

/// A CSV of numbers, one example per line: an integer class label in `labelColumn` (default the first) and
/// Float features in the other columns. A first line that does not parse as numbers is taken as a header.
/// Errors name the file and the line.
public enum CSVDataset {
    public static func read(_ path: String, labelColumn: Int = 0, classCount: Int? = nil) throws -> LabeledDataset {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw DatasetError(
                file: path, FileManager.default.fileExists(atPath: path) ? "not readable as UTF-8 text" : "no such file")
        }
        var values: [Float] = []
        var labels: [Int32] = []
        var width: Int?
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            let numbers = fields.map { Float($0) }
            if numbers.contains(where: { $0 == nil }) {
                if labels.isEmpty && width == nil {
                    width = fields.count
                    continue
                }  // header
                let bad = fields[numbers.firstIndex(where: { $0 == nil })!]
                throw DatasetError(file: path, "line \(lineNumber): '\(bad)' is not a number")
            }
            if let w = width, w != fields.count {
                throw DatasetError(file: path, "line \(lineNumber): \(fields.count) columns, expected \(w)")
            }
            width = fields.count
            guard labelColumn < fields.count else {
                throw DatasetError(file: path, "line \(lineNumber): no label column \(labelColumn) in \(fields.count) columns")
            }
            let label = numbers[labelColumn]!
            guard label >= 0, label == label.rounded(), label < Float(Int32.max) else {
                throw DatasetError(file: path, "line \(lineNumber): label '\(fields[labelColumn])' is not a class index")
            }
            if let classCount, Int(label) >= classCount {
                throw DatasetError(file: path, "line \(lineNumber): label \(Int(label)) is not below \(classCount)")
            }
            labels.append(Int32(label))
            for (j, v) in numbers.enumerated() where j != labelColumn { values.append(v!) }
        }
        guard !labels.isEmpty, let w = width else { throw DatasetError(file: path, "no data rows") }
        guard w >= 2 else { throw DatasetError(file: path, "needs a label and at least one feature column") }
        let x = Tensor(shape: [labels.count, w - 1], values: values)
        let classes = classCount ?? Int(labels.max()!) + 1
        return LabeledDataset(name: (path as NSString).lastPathComponent, features: x, labels: labels, classCount: classes)
    }
}
