import Foundation
import Logging

/// The process's logging, set up once at start: swift-log with the human handler on stderr and, when
/// `output.log_file` names one, the JSON handler, both at one level (`--log-level`, else `COHORT_LOG_LEVEL`,
/// else `info`). Levels as Cohort uses them: `debug` details (each registration's data endpoint), `info` the run's
/// course (rendezvous, epochs, checkpoints), `notice` the summary lines, `warning` dropped messages and refused
/// peers, `error` failures.
public enum CohortLogging {
    public static let environmentVariable = "COHORT_LOG_LEVEL"

    /// The level named by `option`, else by the environment, else `info`; a bad name is an error naming its source.
    public static func level(option: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> Logger.Level
    {
        let (text, source) =
            option.map { ($0, "--log-level") } ?? environment[environmentVariable].map { ($0, environmentVariable) }
            ?? ("info", "")
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw LoggingSetupError(description: "\(source) \(text): expected one of \(names)")
        }
        return level
    }

    /// Installs the handlers for this process (the first call wins, as swift-log allows one bootstrap).
    /// `metadata` goes on every JSON line: the process's rank (`coordinator` for the coordinator), host and pid.
    public static func bootstrap(level: Logger.Level, jsonFile: String?, metadata: Logger.Metadata) throws {
        let file = try jsonFile.map { path in
            do { return try JSONLogFile(path: path) } catch {
                throw LoggingSetupError(description: "output.log_file: cannot open \(path) for appending: \(error)")
            }
        }
        let once = Bootstrap.shared
        guard once.claim() else { return }
        LoggingSystem.bootstrap { label in
            var handlers: [any LogHandler] = [HumanLogHandler(level: level)]
            if let file { handlers.append(JSONLogHandler(label: label, level: level, metadata: metadata, file: file)) }
            var handler = MultiplexLogHandler(handlers)
            handler.logLevel = level
            return handler
        }
    }

    /// rank, host and pid for the JSON lines.
    public static func processMetadata(rank: String) -> Logger.Metadata {
        ["rank": .string(rank), "host": .string(ProcessInfo.processInfo.hostName), "pid": .string("\(getpid())")]
    }
}

public struct LoggingSetupError: Error, CustomStringConvertible {
    public var description: String
}

/// swift-log's bootstrap may run once per process.
private final class Bootstrap: @unchecked Sendable {
    static let shared = Bootstrap()
    private let lock = NSLock()
    private var done = false
    func claim() -> Bool {
        lock.withLock {
            defer { done = true }
            return !done
        }
    }
}
