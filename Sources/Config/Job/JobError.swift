/// A job setting that cannot work, named by its key path in the `job:` section (and so by its flag).
public struct JobError: Error, CustomStringConvertible, Equatable {
    public let keyPath: String
    public let message: String
    public init(_ keyPath: String, _ message: String) {
        self.keyPath = keyPath
        self.message = message
    }
    public var description: String { "job.\(keyPath): \(message)" }
}
