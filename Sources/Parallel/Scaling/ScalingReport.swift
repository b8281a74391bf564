import Foundation
import Training

/// One measured worker count of `bench scaling`: the job with the all-reduce and the compute-only ceiling
/// (the same job with it switched off), both over the steady-state steps.
public struct ScalingMeasurement: Sendable {
    public var workers: Int
    public var run: StepWindow
    public var ceiling: StepWindow

    public init(workers: Int, run: StepWindow, ceiling: StepWindow) {
        self.workers = workers
        self.run = run
        self.ceiling = ceiling
    }

    /// Median step seconds (the slowest rank's), else the mean: other processes on a shared machine add bursts
    /// that the median leaves out. The ranks of a run step together (the all-reduce joins them), so a rank
    /// descheduled for another shows in every step and so in the median too.
    public var stepSeconds: Double { Self.stepSeconds(run) }
    public static func stepSeconds(_ w: StepWindow) -> Double { w.medianStepSeconds ?? w.seconds / Double(max(w.steps, 1)) }
    /// The global batch over the median step time.
    public var samplesPerSecond: Double { Self.batch(run) / stepSeconds }
    public var meanStepSeconds: Double { run.seconds / Double(max(run.steps, 1)) }
    /// The ceiling's ranks do not step together: with more workers than cores one is descheduled while the
    /// others run, which short steps' medians would hide, so the ceiling is all samples over the slowest
    /// rank's total time.
    public var ceilingStepSeconds: Double { ceiling.seconds / Double(max(ceiling.steps, 1)) }
    public var ceilingSamplesPerSecond: Double { Double(ceiling.samples) / ceiling.seconds }
    /// Median compute seconds per step (step minus the wait for the all-reduce), else the mean.
    public var medianComputePerStep: Double { run.medianComputeSeconds ?? computePerStep }

    static func batch(_ w: StepWindow) -> Double { Double(w.samples) / Double(max(w.steps, 1)) }
    public var computePerStep: Double { run.computeSeconds / Double(max(run.steps, 1)) }
    public var allReducePerStep: Double { run.allReduceSeconds / Double(max(run.steps, 1)) }
    public var waitPerStep: Double { run.waitSeconds / Double(max(run.steps, 1)) }
}

/// The CSV `bench scaling --csv` writes and `scripts/plot_scaling.py` reads: one row per measured worker count
/// (kind "measured") and one per predicted count (kind "predicted"); empty cells where a figure does not apply.
public enum ScalingCSV {
    public static let header =
        "kind,workload,workers,samples_per_s,ceiling_samples_per_s,speedup,ceiling_speedup,efficiency,measured_step_s,predicted_step_s,compute_s,allreduce_s,wait_s,predicted_speedup,predicted_samples_per_s"

    public static func cell(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "" }
        return String(format: "%.6g", x)
    }

    public static func row(_ fields: [Double?], kind: String, workload: String, workers: Int) -> String {
        ([kind, workload, String(workers)] + fields.map(cell)).joined(separator: ",")
    }
}
