import Foundation

/// Failures of the cluster runtime, each a one-line message naming the rank, host, file or key concerned.
public enum RuntimeError: Error, CustomStringConvertible, LocalizedError {
    case rendezvous(String)
    case peerDead(rank: Int, host: String, detail: String)
    case workerFailed(rank: Int, host: String, message: String)
    case protocolViolation(String)
    /// The coordinator sent nothing for `seconds`, or (`closed`) its connection closed and it did not answer again
    /// within `seconds`.
    case coordinatorLost(endpoint: String, seconds: Double, closed: Bool = false)
    /// The coordinator was lost and this rank saved its last completed step (`path`) for `--resume`.
    case coordinatorLostSaved(endpoint: String, seconds: Double, closed: Bool = false, step: Int, path: String)
    case stopped(String)
    /// The coordinator let this worker go while the job goes on without it (a DP × PP grid dropped its replica):
    /// not a failure, so the worker ends with its own status (`WorkerExitStatus.dismissed`).
    case dismissed(String)
    case invalid(String)

    /// What the coordinator's `stop` reason starts with when the worker is dismissed rather than stopped.
    public static let dismissalPrefix = "dismissed: "

    /// The stop `reason` as this worker's end: dismissed or stopped.
    public static func ended(byStop reason: String) -> RuntimeError {
        reason.hasPrefix(dismissalPrefix) ? .dismissed(String(reason.dropFirst(dismissalPrefix.count))) : .stopped(reason)
    }

    public var description: String {
        switch self {
        case .rendezvous(let s): return "rendezvous: \(s)"
        case .peerDead(let rank, let host, let detail): return "worker rank \(rank) on \(host) is dead or silent: \(detail)"
        case .workerFailed(let rank, let host, let message): return "worker rank \(rank) on \(host) failed: \(message)"
        case .protocolViolation(let s): return "protocol: \(s)"
        case .coordinatorLost(let endpoint, let seconds, let closed):
            return "coordinator \(endpoint) \(Self.lossText(seconds: seconds, closed: closed)); stopping"
        case .coordinatorLostSaved(let endpoint, let seconds, let closed, let step, let path):
            return
                "coordinator \(endpoint) \(Self.lossText(seconds: seconds, closed: closed)); saved step \(step) to \(path) and stopped (continue with --resume)"
        case .stopped(let reason): return "stopped by the coordinator: \(reason)"
        case .dismissed(let reason): return "left the job: \(reason)"
        case .invalid(let s): return s
        }
    }
    public var errorDescription: String? { description }

    /// How a coordinator was found lost: silent past the deadline, or its connection closed and not back.
    public static func lossText(seconds: Double, closed: Bool) -> String {
        let s = String(format: "%.1f", seconds)
        return closed ? "closed its connection and did not answer again within \(s) s" : "sent nothing for \(s) s"
    }
}

/// Exit statuses of `cohort worker` that its supervisor (`launch`) tells apart from a failure (1).
public enum WorkerExitStatus {
    /// Let go by the coordinator while the job goes on (`RuntimeError.dismissed`): may be started again to rejoin.
    public static let dismissed: Int32 = 4
}
