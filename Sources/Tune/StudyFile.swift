import Config
import Foundation

/// One line of a study file. `study` (the first line: the spec, so a resume with another spec is refused),
/// `start` (a run began) and `result` (it ended: metric, or an error).
public struct StudyRecord: Codable, Sendable, Equatable {
    public var event: String
    public var spec: TuneSpec?
    public var trial: Int?
    public var rung: Int?
    public var budget: Int?
    public var config: TrialConfig?
    public var metric: Double?
    public var seconds: Double?
    public var error: String?
    /// A result's run continued from this step of its trial's previous rung (nil: trained from zero).
    public var resumedFromStep: Int?
    /// Unix time the record was appended (set by `StudyFile.append` when nil): when each result was known.
    public var at: Double?

    public init(
        event: String, spec: TuneSpec? = nil, run: TrialRun? = nil, config: TrialConfig? = nil, metric: Double? = nil,
        seconds: Double? = nil, error: String? = nil
    ) {
        self.event = event
        self.spec = spec
        self.trial = run?.trial
        self.rung = run?.rung
        self.budget = run?.budget
        self.config = config
        self.metric = metric
        self.seconds = seconds
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case event, spec, trial, rung, budget, config, metric, seconds, error, at
        case resumedFromStep = "resumed_from_step"
    }

    public var run: TrialRun? {
        guard let trial, let rung, let budget else { return nil }
        return TrialRun(trial: trial, rung: rung, budget: budget)
    }
}

public struct StudyFileError: Error, CustomStringConvertible {
    public var description: String
}

/// The study, as an append-only JSON Lines file: each record is one `write` of a whole line on an `O_APPEND`
/// descriptor, then `fsync`, so a killed tuner leaves at worst one truncated last line. Opening it again drops that
/// line (its run is then re-run: it has a start and no result) and returns every record before it.
public final class StudyFile {
    public let path: String
    private let fd: Int32
    public private(set) var records: [StudyRecord] = []
    /// Whether opening dropped a truncated last line.
    public private(set) var droppedTruncatedLine = false

    /// Opens (creating, with the `study` header) or resumes `path`; a file made with another spec is refused.
    public init(path: String, spec: TuneSpec) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StudyFileError(description: "\(path): cannot open (\(String(cString: strerror(errno))))") }
        do {
            try load()
            if records.isEmpty {
                try append(StudyRecord(event: "study", spec: spec))
            } else if records[0].event != "study" {
                throw StudyFileError(description: "\(path):1: not a study file (the first line is no study record)")
            } else if records[0].spec != spec {
                throw StudyFileError(
                    description:
                        "\(path): made with another tune: section (space, scheduler, seed or budgets differ); resume with the same one or use a new --study file"
                )
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Reads every complete line; a last line without its newline is cut off the file.
    private func load() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let bytes = [UInt8](data)
        guard let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n")) ?? (bytes.isEmpty ? nil : -1) else { return }
        if lastNewline + 1 < bytes.count {
            droppedTruncatedLine = true
            guard ftruncate(fd, off_t(lastNewline + 1)) == 0 else {
                throw StudyFileError(description: "\(path): cannot drop the truncated last line")
            }
        }
        guard lastNewline >= 0 else { return }
        let decoder = JSONDecoder()
        for (index, line) in bytes[0...lastNewline].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .dropLast().enumerated()
        {
            guard let record = try? decoder.decode(StudyRecord.self, from: Data(line)) else {
                throw StudyFileError(description: "\(path):\(index + 1): not a study record")
            }
            records.append(record)
        }
    }

    /// Appends one record as one line, durably.
    public func append(_ record: StudyRecord) throws {
        var record = record
        if record.at == nil { record.at = Date().timeIntervalSince1970 }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else {
            throw StudyFileError(description: "\(path): cannot append (\(String(cString: strerror(errno))))")
        }
        records.append(record)
    }

    /// Finished runs, in the order they finished.
    public var results: [StudyRecord] { records.filter { $0.event == "result" } }

    /// Runs started and never finished (the tuner was killed while they ran): they run again on resume.
    public var unfinished: [TrialRun] {
        let done = Set(results.compactMap(\.run))
        var seen = Set<TrialRun>()
        return records.filter { $0.event == "start" }.compactMap(\.run).filter { !done.contains($0) && seen.insert($0).inserted }
    }

    /// Replays the file into a fresh scheduler: starts and results (each metric as `score` ranks it) in file order.
    /// Returns the runs the scheduler decided to go on with (ASHA's stopping type) that the file never started: the
    /// tuner was killed between the result and the start, and they run on resume.
    public func replay(into scheduler: inout any TrialScheduler, score: (Double?) -> Double? = { $0 }) -> [TrialRun] {
        var decided: [TrialRun] = []
        var started = Set<TrialRun>()
        for record in records {
            guard let run = record.run else { continue }
            if record.event == "start" {
                scheduler.markStarted(run)
                started.insert(run)
            }
            if record.event == "result", let next = scheduler.record(run, metric: score(record.metric)) {
                decided.append(next)
            }
        }
        return decided.filter { !started.contains($0) }
    }
}
