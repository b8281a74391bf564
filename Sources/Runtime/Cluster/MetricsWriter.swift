import Foundation
import Training

/// One line of the coordinator's metrics file: `{"event": "progress", "progress": {…}}` and likewise for `epoch`,
/// `rank` (one rank's own report: its samples and time split, for per-rank plots) and `done` (whose payload is
/// under `summary`). Every line also has `t`, the seconds since the coordinator opened the file (`cohort plot`'s
/// wall-time axis).
enum MetricsRecord: Encodable {
    case progress(ClusterProgress)
    case epoch(EpochSummary)
    case rank(ProgressReport)
    case done(JobSummary)
    /// Elastic training re-formed the membership: `{"event": "membership", "membership": {…, "line": "workers 3→2 …"}}`.
    case membership(MembershipChange)
    /// A survivor's first step in a new membership: `{"event": "recovery", "recovery": {…}}` (`RecoveryReport`).
    case recovery(RecoveryReport)

    enum CodingKeys: String, CodingKey {
        case event, progress, epoch, rank, summary, membership, line, recovery
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
        case .rank(let r):
            try c.encode("rank", forKey: .event)
            try c.encode(r, forKey: .rank)
        case .done(let s):
            try c.encode("done", forKey: .event)
            try c.encode(s, forKey: .summary)
        case .membership(let m):
            try c.encode("membership", forKey: .event)
            try c.encode(m, forKey: .membership)
            try c.encode(m.line, forKey: .line)
        case .recovery(let r):
            try c.encode("recovery", forKey: .event)
            try c.encode(r, forKey: .recovery)
        }
    }
}

/// Appends one JSON object per line to the metrics file (JSON Lines, encoded by `JSONLine`), creating its folder.
/// A resumed run appends to the lines of the run it continues; a new run starts the file afresh. A write that
/// fails (a full disk) is reported once and the run goes on without metrics: metrics must never stop a run.
public final class MetricsWriter {
    private let handle: FileHandle
    private let path: String
    private var failed = false

    public init(path: String, append: Bool = false) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw RuntimeError.invalid("output.metrics_file: cannot create the folder of \(path): \(error.localizedDescription)")
        }
        if !(append && FileManager.default.fileExists(atPath: path)) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw RuntimeError.invalid("output.metrics_file: cannot write \(path)")
        }
        if append { _ = try? h.seekToEnd() }
        handle = h
    }

    /// When the file was opened, for each record's `t`.
    private let opened = DispatchTime.now().uptimeNanoseconds

    func write(_ record: MetricsRecord) {
        write(line: TimedRecord(t: Double(DispatchTime.now().uptimeNanoseconds - opened) / 1e9, record: record))
    }

    /// Any record as one line; one that cannot be encoded is skipped.
    public func write<Record: Encodable>(line record: Record) {
        guard !failed, var data = try? JSONLine.encode(record) else { return }
        data.append(0x0A)
        do {
            try handle.write(contentsOf: data)
        } catch {
            failed = true
            FileHandle.standardError.write(
                Data(
                    "cohort: output.metrics_file \(path): write failed (\(error.localizedDescription)); no more metrics are written\n"
                        .utf8))
        }
    }

    deinit { try? handle.close() }
}

/// A record with its `t` beside its fields.
private struct TimedRecord: Encodable {
    var t: Double
    var record: MetricsRecord
    enum CodingKeys: String, CodingKey { case t }
    func encode(to encoder: any Encoder) throws {
        try record.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode((t * 1000).rounded() / 1000, forKey: .t)
    }
}
