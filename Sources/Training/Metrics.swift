import Config
import Foundation

/// One epoch's numbers: a line of the metrics JSON Lines file (snake_case keys).
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var event = "epoch"
    public var epoch: Int
    public var steps: Int
    public var globalStep: Int
    public var trainLoss: Float
    public var trainAccuracy: Float
    public var validationLoss: Float?
    public var validationAccuracy: Float?
    public var testLoss: Float?
    public var testAccuracy: Float?
    public var learningRate: Float
    /// Seconds of training steps (evaluation excluded).
    public var seconds: Double
    public var samplesPerSecond: Double
    /// Steps whose update `on_divergence: skip_step` dropped (only under that policy).
    public var skippedSteps: Int? = nil

    enum CodingKeys: String, CodingKey {
        case event, epoch, steps
        case globalStep = "global_step"
        case trainLoss = "train_loss"
        case trainAccuracy = "train_accuracy"
        case validationLoss = "validation_loss"
        case validationAccuracy = "validation_accuracy"
        case testLoss = "test_loss"
        case testAccuracy = "test_accuracy"
        case learningRate = "lr"
        case seconds
        case samplesPerSecond = "samples_per_s"
        case skippedSteps = "skipped_steps"
    }
}

/// Progress inside an epoch, for the live display.
public struct StepProgress: Sendable {
    public var epoch: Int
    public var step: Int
    public var stepsInEpoch: Int
    public var loss: Float
    public var accuracy: Float
    public var samplesPerSecond: Double
}

/// Appends JSON Lines to a file, one object per line (encoded by `JSONLine`), flushed per line so a crash leaves
/// whole lines.
public final class JSONLinesWriter {
    private let handle: FileHandle
    public let path: String

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let h = FileHandle(forWritingAtPath: path)
        else {
            throw JobError("metrics", "cannot create metrics file \(path)")
        }
        handle = h
    }

    deinit { try? handle.close() }

    public func write<T: Encodable>(_ value: T) throws {
        var data = try JSONLine.encode(value)
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }

    /// One value as a single JSON line (for stdout).
    public static func line<T: Encodable>(_ value: T) -> String { JSONLine.string(value) }
}
