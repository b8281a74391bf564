import Foundation
import Training

/// One line of the coordinator's metrics file: `{"event": "progress", "progress": {…}}` and likewise for `epoch`
/// and `done` (whose payload is under `summary`).
enum MetricsRecord: Encodable {
    case progress(ClusterProgress)
    case epoch(EpochSummary)
    case done(JobSummary)

    enum CodingKeys: String, CodingKey {
        case event, progress, epoch, summary
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .progress(let p):
            try c.encode("progress", forKey: .event)
            try c.encode(p, forKey: .progress)
        case .epoch(let e):
            try c.encode("epoch", forKey: .event)
            try c.encode(e, forKey: .epoch)
        case .done(let s):
            try c.encode("done", forKey: .event)
            try c.encode(s, forKey: .summary)
        }
    }
}

/// Appends one JSON object per line to the metrics file (JSON Lines, encoded by `JSONLine`), creating its folder.
final class MetricsWriter {
    private let handle: FileHandle

    init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: nil)
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw RuntimeError.invalid("output.metrics_file: cannot write \(path)")
        }
        handle = h
    }

    /// A record that cannot be encoded is skipped: metrics must never stop a run.
    func write(_ record: MetricsRecord) {
        guard var data = try? JSONLine.encode(record) else { return }
        data.append(0x0A)
        handle.write(data)
    }

    deinit { try? handle.close() }
}
