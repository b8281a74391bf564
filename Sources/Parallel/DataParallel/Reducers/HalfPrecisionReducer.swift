import Collectives

/// The gradient sum with bf16 or fp16 on the wire (PyTorch's bf16/fp16 compression hooks): the ring carries two
/// bytes an element and reduces in fp32 at every hop. With error feedback, the rounding of this rank's own
/// contribution is kept and added to its next gradient.
///
/// Bytes per step, per rank: 2(N−1)/N · 2P on the ring (P gradient elements): half of fp32's 2(N−1)/N · 4P.
public final class HalfPrecisionReducer: GradientReducer {
    private let communicator: Communicator
    private let wire: WirePrecision
    private let errorFeedback: Bool
    private let startStep: Int
    private var steps = BucketSteps()
    private var residuals = Residuals()

    public init(communicator: Communicator, wire: WirePrecision, errorFeedback: Bool, startStep: Int = 0) {
        self.communicator = communicator
        self.wire = wire
        self.errorFeedback = errorFeedback
        self.startStep = startStep
    }

    public static func bytesPerStep(parameters: Int, ranks: Int) -> Double {
        2 * Double(ranks - 1) / Double(ranks) * 2 * Double(parameters)
    }

    public func resumed(atStep step: Int) { steps.first = step }

    public func reduce(bucket: GradientBucket) throws {
        guard steps.next(bucket.index) >= startStep else {
            return try communicator.allReduce(bucket.values, op: .sum)
        }
        if errorFeedback {
            residuals.roundWithFeedback(bucket.values, bucket: bucket.index, wire: wire)
        }
        try communicator.allReduce(bucket.values, op: .sum, wire: wire)
    }
}
