import Foundation
import Logging

/// `output.log_file`: one JSON object per record, appended: `ts` (ISO 8601, UTC, milliseconds), `level`, `label`,
/// `message`, and the metadata (the process's `rank`, `host` and `pid` on every line, and whatever the call added)
/// as string fields. For log shippers (Loki, Elasticsearch, `jq`); the terminal keeps the human lines.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata
    private let label: String
    private let sink: JSONLogFile

    public init(label: String, level: Logger.Level, metadata: Logger.Metadata, file: JSONLogFile) {
        self.label = label
        logLevel = level
        self.metadata = metadata
        sink = file
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var record: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            record[key] = "\(value)"
        }
        record["ts"] = JSONLogFile.timestamp()
        record["level"] = event.level.rawValue
        record["label"] = label
        record["message"] = "\(event.message)"
        sink.append(record)
    }
}

/// The log file: opened once for appending (created 0600: logs may name hosts and paths), written under a lock
/// one whole line at a time, so records of several threads never interleave.
public final class JSONLogFile: @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle
    private let encoder: JSONEncoder

    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    func append(_ record: [String: String]) {
        guard let data = try? encoder.encode(record) else { return }
        lock.withLock {
            // A full disk or a removed file must not stop the job: the record is lost, the run goes on.
            try? handle.write(contentsOf: data + Data("\n".utf8))
        }
    }

    static func timestamp() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date())
    }
}
