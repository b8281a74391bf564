#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A point on the monotonic clock. Collectives take one deadline for the whole operation and pass it to every
/// receive, so a dead peer costs at most the deadline, not the deadline times the number of steps.
public struct Deadline: Sendable, Comparable {
    /// Nanoseconds on CLOCK_MONOTONIC.
    public let nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// Monotonic now, in nanoseconds.
    public static func nowNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static var now: Deadline { Deadline(nanoseconds: nowNanoseconds()) }

    /// A deadline `seconds` from now.
    public static func after(seconds: Double) -> Deadline {
        Deadline(nanoseconds: nowNanoseconds() &+ UInt64(max(0, seconds) * 1e9))
    }

    /// Practically never: for calls the caller wants to block on.
    public static let distantFuture = Deadline(nanoseconds: UInt64.max / 2)

    public var hasPassed: Bool { Deadline.nowNanoseconds() >= nanoseconds }

    /// Milliseconds left, rounded up so a poll never wakes just before the deadline; 0 once passed.
    public var remainingMilliseconds: Int32 {
        let now = Deadline.nowNanoseconds()
        guard nanoseconds > now else { return 0 }
        return Int32(min(UInt64(Int32.max), (nanoseconds - now + 999_999) / 1_000_000))
    }

    public var remainingSeconds: Double {
        let now = Deadline.nowNanoseconds()
        return nanoseconds > now ? Double(nanoseconds - now) / 1e9 : 0
    }

    public static func < (a: Deadline, b: Deadline) -> Bool { a.nanoseconds < b.nanoseconds }
}
