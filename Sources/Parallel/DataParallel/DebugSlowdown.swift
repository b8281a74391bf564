import Foundation
import Training

/// `COHORT_DEBUG_SLOW_RANK=R:FACTOR`: rank R computes FACTOR times as long as it would (a test switch for the
/// straggler report, like an older CPU or a noisy neighbour). The extra time is slept before the step's forward
/// pass, so the rank's gradients, and with them every all-reduce bucket, are late: its peers wait for it, as they
/// would for a real straggler. The stall is the previous step's compute times FACTOR − 1.
final class DebugSlowdown {
    static let variable = "COHORT_DEBUG_SLOW_RANK"
    let factor: Double
    private var lastComputeNanos: UInt64 = 0

    init(factor: Double) { self.factor = factor }

    /// The slowdown for `rank` from the environment: nil when the variable is unset or names another rank; a
    /// malformed value is an error naming the variable.
    static func fromEnvironment(rank: Int, environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> DebugSlowdown?
    {
        guard let text = environment[variable], !text.isEmpty else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let r = Int(parts[0]), r >= 0, let f = Double(parts[1]), f.isFinite, f >= 1, f <= 100 else {
            throw RuntimeError.invalid("\(variable)=\(text): expected RANK:FACTOR with FACTOR in 1...100 (e.g. 1:2.0)")
        }
        return r == rank ? DebugSlowdown(factor: f) : nil
    }

    /// Sleeps the extra time; returns the nanoseconds slept.
    func stall() -> UInt64 {
        let extra = UInt64(Double(lastComputeNanos) * (factor - 1))
        guard extra > 0 else { return 0 }
        let start = DispatchTime.now().uptimeNanoseconds
        Thread.sleep(forTimeInterval: Double(extra) / 1e9)
        return DispatchTime.now().uptimeNanoseconds - start
    }

    /// The step's own compute, without the stall, for the next one.
    func record(computeNanos: UInt64) { lastComputeNanos = computeNanos }
}
