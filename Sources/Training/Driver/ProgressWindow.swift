import Foundation

/// When a progress report is due and what it covers: the steps since the last report.
public struct ProgressCadence: Sendable {
    /// Nanoseconds between reports.
    public var interval: UInt64
    /// Whether the run's last step always reports (the workers': the coordinator shows 100%).
    public var reportsLastStep: Bool
    /// Whether the clock restarts with each epoch (the single process's: epoch-end evaluation is not a gap).
    public var restartsEachEpoch: Bool

    public init(interval: UInt64, reportsLastStep: Bool, restartsEachEpoch: Bool) {
        self.interval = interval
        self.reportsLastStep = reportsLastStep
        self.restartsEachEpoch = restartsEachEpoch
    }

    /// The workers' cadence: four times a second, and at the end.
    public static let workers = ProgressCadence(interval: 250_000_000, reportsLastStep: true, restartsEachEpoch: false)
}

/// What a progress report sees: where the run is, the epoch so far and the window since the last report.
public struct ProgressPoint: Sendable {
    /// 0-based epoch; `stepInEpoch` 1-based; `step` the optimizer steps done.
    public var epoch: Int
    public var stepInEpoch: Int
    public var step: Int
    public var epochTotals: StepTotals
    /// `seconds` is the wall time since the last report.
    public var window: StepTotals
}

/// The steps since the last report and the clock they are measured on.
struct ProgressWindow {
    let cadence: ProgressCadence
    private(set) var totals = StepTotals()
    private var last: UInt64

    init(cadence: ProgressCadence, now: UInt64) {
        self.cadence = cadence
        last = now
    }

    mutating func epochBegins(now: UInt64) {
        if cadence.restartsEachEpoch {
            last = now
            totals = StepTotals()
        }
    }

    /// Adds the step; returns the window to report (and starts a new one) when one is due.
    mutating func add(_ r: StepRecord, isLastStep: Bool) -> StepTotals? {
        totals.add(r)
        guard r.end - last >= cadence.interval || (cadence.reportsLastStep && isLastStep) else { return nil }
        var due = totals
        due.seconds = Double(r.end - last) / 1e9
        totals = StepTotals()
        last = r.end
        return due
    }
}
