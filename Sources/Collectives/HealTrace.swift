import Foundation
import Transport

/// `COHORT_TRACE_HEAL=1`: one stderr line per stage of a membership change (`HEALTRACE pid monotonic-ns stage`),
/// for taking a heal's stall apart across processes (`scripts/heal-trace.py`). Off, it costs one load.
public func healTrace(_ stage: @autoclosure () -> String) {
    guard HealTrace.enabled else { return }
    FileHandle.standardError.write(Data("HEALTRACE \(getpid()) \(Deadline.nowNanoseconds()) \(stage())\n".utf8))
}

enum HealTrace {
    static let enabled = ProcessInfo.processInfo.environment["COHORT_TRACE_HEAL"].map { $0 != "0" && !$0.isEmpty } ?? false
}
