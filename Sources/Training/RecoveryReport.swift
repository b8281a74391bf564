import Foundation

/// One survivor's account of an elastic recovery, sent to the coordinator on its first completed step in the new
/// membership and written to the metrics file as `{"event": "recovery", "recovery": {…}}`, so that a script
/// (`scripts/chaos.py`) puts its kill time beside it without reading log text. Times are CLOCK_MONOTONIC
/// nanoseconds, comparable across processes of one host.
public struct RecoveryReport: Codable, Sendable, Equatable {
    /// The rank and replica count in the new membership, and that membership's epoch (the metrics file's
    /// `membership` record with the same number says what changed).
    public var rank: Int
    public var worldSize: Int
    public var membership: UInt32
    /// When this rank's collective of the ended membership failed (or was aborted by the new one).
    public var failedAtNanoseconds: UInt64
    /// When the replicas had agreed on their state (the broadcast, if any, included).
    public var agreedAtNanoseconds: UInt64
    /// When the first step of the new membership completed here.
    public var stepDoneAtNanoseconds: UInt64
    /// The steps this rank had completed when its collective failed.
    public var stepAtFailure: Int
    /// The step every replica continued from (the furthest any replica had completed).
    public var agreedStep: Int
    /// Every replica's completed steps before agreeing, in the new ranks' order.
    public var stepsBefore: [Int]
    /// Work this rank does again: the step it had in flight when that step was not completed by any replica
    /// (1), or 0 when the failure fell between steps or another replica's completed result was copied to it.
    public var stepsRedone: Int
    /// State bytes the agreement's broadcast delivered to the other replicas (0 when every checksum matched).
    public var bytesCopied: Int
    /// The last step boundary this rank reached in the ended membership (the end of its last completed step, or of
    /// the epoch's evaluation after it; CLOCK_MONOTONIC nanoseconds): with `stepDoneAtNanoseconds`, how long the
    /// membership change held this rank up (nil from a worker that did not say).
    public var lastStepEndNanoseconds: UInt64? = nil
    /// The rank whose state was copied, when one was.
    public var source: Int?
    /// Wall seconds of this rank's part of that copy, when there was one (`ReplicaAgreement.copySeconds`).
    public var copySeconds: Double?
    /// The copy's rate, when there was one: the bytes one receiver got per second of `copySeconds`, in GB/s
    /// (10⁹ bytes; `ReplicaAgreement.copyGigabytesPerSecond`), to put beside the link's rate.
    public var copyGigabytesPerSecond: Double?

    public init(
        rank: Int, worldSize: Int, membership: UInt32, failedAtNanoseconds: UInt64, agreedAtNanoseconds: UInt64,
        stepDoneAtNanoseconds: UInt64, stepAtFailure: Int, agreedStep: Int, stepsBefore: [Int], bytesCopied: Int,
        source: Int?, copySeconds: Double? = nil, copyGigabytesPerSecond: Double? = nil, stepInFlight: Bool = true
    ) {
        self.rank = rank
        self.worldSize = worldSize
        self.membership = membership
        self.failedAtNanoseconds = failedAtNanoseconds
        self.agreedAtNanoseconds = agreedAtNanoseconds
        self.stepDoneAtNanoseconds = stepDoneAtNanoseconds
        self.stepAtFailure = stepAtFailure
        self.agreedStep = agreedStep
        self.stepsBefore = stepsBefore
        // The step in flight was stepAtFailure + 1; it is redone unless the agreed state already holds it, or the
        // membership ended between steps (a join's, at a step boundary).
        self.stepsRedone = stepInFlight ? max(0, stepAtFailure + 1 - agreedStep) : 0
        self.bytesCopied = bytesCopied
        self.source = source
        self.copySeconds = copySeconds
        self.copyGigabytesPerSecond = copyGigabytesPerSecond
    }
}
