/// How far a stage's last update got, for an elastic grid's agreement after a loss (`agreeStageState`).
///
/// A stage updates after two collectives: its replicas' all-reduce, then the replica's gradient norm summed over
/// its stages (the gate: no stage applies a step before every stage of its replica has its sum). When a worker
/// dies, a stage may hold the replicas' sum of a step but have lost the gate to the abort, while a stage of the
/// same replica got through and applied the step. Rather than keeping a copy of every stage's state to go back
/// to (measured: 0.89× the samples/s on W1), the stage that fell behind finishes its update with the norm its
/// replica's other stages used, which gives the same weights bit for bit. Three stores a step.
public final class StageUpdateRecord: @unchecked Sendable {
    /// The trainer's step whose all-reduce finished here while its update has not been applied; the model's
    /// gradients then hold the replicas' sum.
    public var pendingStep: Int?
    /// True once the update's penalties are in those gradients (they go in before the gate).
    public var penalized = false
    /// The last gate this stage got through: the step it belonged to (the trainer's step before that update)
    /// and the replica's squared gradient norm.
    public var gate: (step: Int, squaredNorm: Float)?

    /// True for a stage that joined the job in this membership and holds no state of its own yet: it takes its
    /// replicas' in the agreement and has no say in the step.
    public var joining = false

    public init() {}

    /// Whether this stage can finish the update of `step` (given the norm).
    public func canFinish(step: Int) -> Bool { pendingStep == step && penalized }
}
