import ArgumentParser
import Observability

/// Options every reporting command shares.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON lines instead of a table.")
    var json = false
}

/// `--log-level` for the commands that log (launch, coordinator, worker).
struct LogOptions: ParsableArguments {
    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical (default: $COHORT_LOG_LEVEL, else info).")
    var logLevel: String?

    /// Sets up swift-log for this process: the human lines on stderr, and JSON lines to `logFile` when given.
    func bootstrap(logFile: String?, rank: String) throws {
        do {
            try CohortLogging.bootstrap(
                level: CohortLogging.level(option: logLevel), jsonFile: logFile,
                metadata: CohortLogging.processMetadata(rank: rank))
        } catch {
            throw CohortFailure("\(error)")
        }
    }
}
