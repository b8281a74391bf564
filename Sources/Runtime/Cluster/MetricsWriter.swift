import Foundation

/// Appends one JSON object per line to the metrics file (JSON Lines), creating its folder.
final class MetricsWriter {
    private let handle: FileHandle
    private let encoder = JSONEncoder()

    init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: nil)
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw RuntimeError.invalid("output.metrics_file: cannot write \(path)")
        }
        handle = h
        encoder.outputFormatting = [.sortedKeys]
    }

    func write(_ object: [String: any Encodable & Sendable]) {
        let parts = object.sorted { $0.key < $1.key }.compactMap { key, value -> String? in
            guard let data = try? encoder.encode(AnyEncodable(value)) else { return nil }
            return "\"\(key)\":" + String(decoding: data, as: UTF8.self)
        }
        handle.write(Data(("{" + parts.joined(separator: ",") + "}\n").utf8))
    }

    deinit { try? handle.close() }
}

private struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
