import Collectives

/// One bucket of the flat gradient buffer, as handed to a `GradientReducer`: its index (stable across steps and
/// identical on every rank, so a reducer can key per-bucket state on it) and the contiguous slice it covers.
public struct GradientBucket {
    /// Position in `GradientBuckets.buckets` (0 is the last layers, reduced first).
    public let index: Int
    /// The slice of the flat gradient buffer, in floats.
    public let range: Range<Int>
    /// The gradient values of `range`, reduced in place.
    public let values: UnsafeMutableBufferPointer<Float>

    public init(index: Int, range: Range<Int>, values: UnsafeMutableBufferPointer<Float>) {
        self.index = index
        self.range = range
        self.values = values
    }
}

/// How a bucket of gradients is combined across ranks. The buckets call it once per bucket per step, from their
/// communication thread, so an implementation works on whole slices (no per-element dispatch) and may keep
/// state per bucket index between steps — a compressing reducer's error-feedback residual, for example.
public protocol GradientReducer: AnyObject {
    /// Called once, before the first `reduce`, with every bucket's slice: where per-bucket state is allocated.
    func prepare(buckets: [Range<Int>])
    /// Reduces `bucket.values` in place; every rank calls it with the same bucket in the same order.
    func reduce(bucket: GradientBucket) throws
    /// Called once after a resume, before the first `reduce`, with the step training resumes at: a reducer that
    /// counts its own steps (a compression `start_step`) continues from there instead of from zero.
    func resumed(atStep step: Int)
}

extension GradientReducer {
    public func prepare(buckets: [Range<Int>]) {}
    public func resumed(atStep step: Int) {}
}

/// The plain fp32 sum all-reduce: every rank ends with the bitwise-identical sum of all ranks' gradients.
public final class SumReducer: GradientReducer {
    private let communicator: Communicator

    public init(communicator: Communicator) {
        self.communicator = communicator
    }

    public func reduce(bucket: GradientBucket) throws {
        try communicator.allReduce(bucket.values, op: .sum)
    }
}
