import Foundation

/// A checkpoint that cannot be written or read, on one line: `PATH: MESSAGE`.
public struct CheckpointError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public var path: String
    public var message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
    public var errorDescription: String? { description }

    static func posix(_ path: String, _ what: String, _ code: Int32 = errno) -> CheckpointError {
        CheckpointError(path: path, message: "\(what): \(String(cString: strerror(code)))")
    }
}
