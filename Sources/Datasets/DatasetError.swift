/// Every data problem names the file (or source) and what is wrong with it, in one line.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String

    public init(file: String, _ problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}
