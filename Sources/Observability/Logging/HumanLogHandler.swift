import Foundation
import Logging

/// The terminal's handler: each record is the line Cohort printed before it logged (`epoch 2: train loss …`,
/// `warning: …`), on stderr, with nothing added, so people and scripts reading stderr see what they saw. The
/// progress bar is not a log record: `ProgressDisplay` draws it on the terminal only and clears it before a line.
public struct HumanLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let write: @Sendable (String) -> Void

    public init(level: Logger.Level, write: @escaping @Sendable (String) -> Void = HumanLogHandler.standardError) {
        logLevel = level
        self.write = write
    }

    public static let standardError: @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        write("\(event.message)\n")
    }
}
