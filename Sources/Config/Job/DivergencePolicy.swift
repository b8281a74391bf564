/// `job.on_divergence`: what a NaN or ∞ loss or gradient norm does.
public enum DivergencePolicy: String, CaseIterable, Sendable {
    /// End the job at that step, leaving the last good checkpoint as the newest.
    case stop
    /// Drop that step's update (on every rank alike: the decision is on the globally reduced gradient norm) and
    /// go on, counting it.
    case skipStep = "skip_step"
}
