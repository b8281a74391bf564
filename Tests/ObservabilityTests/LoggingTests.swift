import Foundation
import Logging
import Observability
import Testing

/// swift-log handlers: levels filter, the human line is the message alone, JSON lines carry rank and host.
@Suite struct LoggingTests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        func add(_ s: String) { lock.withLock { stored.append(s) } }
        var all: [String] { lock.withLock { stored } }
    }

    @Test func levelComesFromTheOptionThenTheEnvironment() throws {
        #expect(try CohortLogging.level(option: nil, environment: [:]) == .info)
        #expect(try CohortLogging.level(option: nil, environment: ["COHORT_LOG_LEVEL": "DEBUG"]) == .debug)
        #expect(try CohortLogging.level(option: "error", environment: ["COHORT_LOG_LEVEL": "debug"]) == .error)
        #expect {
            try CohortLogging.level(option: nil, environment: ["COHORT_LOG_LEVEL": "loud"])
        } throws: { "\($0)".contains("COHORT_LOG_LEVEL loud: expected one of trace, debug") }
        #expect(throws: LoggingSetupError.self) { try CohortLogging.level(option: "verbose") }
    }

    @Test(arguments: [Logger.Level.debug, .info, .warning, .error])
    func humanHandlerPrintsOnlyAtOrAboveItsLevel(_ level: Logger.Level) {
        let lines = Lines()
        let logger = Logger(label: "t") { _ in HumanLogHandler(level: level) { lines.add($0) } }
        for l in Logger.Level.allCases { logger.log(level: l, "line at \(l)") }
        let expected = Logger.Level.allCases.filter { $0 >= level }.map { "line at \($0)\n" }
        #expect(lines.all == expected)
    }

    @Test func jsonLinesCarryRankHostAndLevel() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-log-\(UUID()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try JSONLogFile(path: path)
        let logger = Logger(label: "cohort") { label in
            JSONLogHandler(
                label: label, level: .notice, metadata: CohortLogging.processMetadata(rank: "3"), file: file)
        }
        logger.info("hidden")
        logger.notice("epoch 1: done", metadata: ["epoch": "1"])
        logger.error("rank 1 \"died\"")
        let records = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])
        }
        #expect(records.map { $0["message"] } == ["epoch 1: done", "rank 1 \"died\""])
        #expect(records.map { $0["level"] } == ["notice", "error"])
        #expect(records.allSatisfy { $0["rank"] == "3" && $0["host"] == ProcessInfo.processInfo.hostName })
        #expect(records[0]["epoch"] == "1" && records[0]["label"] == "cohort")
        #expect(records.allSatisfy { $0["ts"]?.hasSuffix("Z") == true })
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}
