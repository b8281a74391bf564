/// A run stopped because its loss or gradient norm stopped being finite. The description is the one line that
/// `cohort train`, the workers' failure message and the coordinator all show.
public struct TrainingDiverged: Error, CustomStringConvertible, Equatable, Sendable {
    /// "loss" or "gradient norm".
    public var quantity: String
    public var value: Float
    /// The 1-based number of the step that diverged (the label a checkpoint after it would carry).
    public var step: Int
    public var rank: Int

    public init(quantity: String, value: Float, step: Int, rank: Int) {
        self.quantity = quantity
        self.value = value
        self.step = step
        self.rank = rank
    }

    /// What a step's record shows: the loss when this rank's is not finite, else the gradient norm; nil when
    /// the step is fine. Only the gradient norm is the same on every rank, so only it decides.
    static func check(_ r: StepRecord, step: Int, rank: Int) -> TrainingDiverged? {
        guard !r.gradientNorm.isFinite else { return nil }
        if !r.loss.isFinite { return TrainingDiverged(quantity: "loss", value: r.loss, step: step, rank: rank) }
        return TrainingDiverged(quantity: "gradient norm", value: r.gradientNorm, step: step, rank: rank)
    }

    public var description: String {
        let v = value.isNaN ? "NaN" : value.isInfinite ? (value > 0 ? "inf" : "-inf") : "\(value)"
        return "training diverged: \(quantity) is \(v) at step \(step) (rank \(rank))"
    }
}
