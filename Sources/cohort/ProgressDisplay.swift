import Foundation
import Logging
import Runtime

/// Live progress of a cluster on stderr: one redrawn line on a terminal (epoch bar, loss, accuracy, samples/s,
/// share of time in communication), plain periodic lines otherwise (logs, CI). Every other line is a swift-log
/// record (`CohortLogging`): its level decides whether it shows, and `output.log_file` gets it as JSON; the bar is
/// drawn on the terminal only.
final class ProgressDisplay: @unchecked Sendable {
    private let logger = Logger(label: "cohort")
    private let enabled: Bool
    private let tty = isatty(STDERR_FILENO) != 0
    private let lock = NSLock()
    private var lastLine = Date.distantPast
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ event: CoordinatorEvent) {
        guard enabled else { return }
        switch event {
        case .listening(let endpoint, let n): line("coordinator: listening on \(endpoint), expecting \(n) workers")
        case .started(let n, let peers):
            line("coordinator: all \(n) workers assigned; training")
            line("coordinator: peers \(peers.enumerated().map { "\($0)=\($1)" }.joined(separator: " "))", .debug)
        case .registered(_, let host, let pid, let count, let of):
            if !tty || count == of { line("coordinator: \(count)/\(of) workers registered (last: \(host), pid \(pid))") }
        case .progress(let p): bar(p)
        case .epoch(let e, let train, let acc, let loss):
            line(String(format: "epoch %d: train loss %.4f, test loss %.4f, test accuracy %.4f", e + 1, train, loss, acc))
        case .checkpointed(let step, let path): line("checkpoint at step \(step): \(path)")
        case .membershipChanged(let change): line(change.line)
        case .warning(let w): line("warning: \(w)", .warning)
        }
    }

    /// A line about the worker processes (one exited with a failure status): a warning.
    func note(_ s: String) { if enabled { line(s, .warning) } }

    func finish(_ s: JobSummary) {
        guard enabled else { return }
        let acc = s.testAccuracy.map { String(format: "%.4f", $0) } ?? "n/a"
        let comm = s.seconds > 0 ? 100 * s.waitSeconds / s.seconds : 0
        line(
            String(
                format:
                    "done: %d workers, %d steps in %.1f s, %.0f samples/s, test accuracy %@, waiting on communication %.0f%% of the time",
                s.workers, s.steps, s.seconds, s.samplesPerSecond, acc, comm), .notice)
        let same = Set(s.weightChecksums).count == 1
        line(
            "weights: \(same ? "identical on all workers" : "DIFFER between workers") (\(s.weightChecksums.joined(separator: " ")))",
            same ? .notice : .warning)
        if !s.links.isEmpty { line(Self.linksLine(s.links), .notice) }
        if let stragglers = s.stragglers, stragglers.ranks.count > 1 {
            line(stragglers.humanLine, stragglers.waitedOn == nil ? .notice : .warning)
        }
    }

    /// "links: 0→1 shm 12.3 MB, 1→0 socket 12.3 MB, …": which transport each rank's link to each peer took and the
    /// bytes it carried (the busiest 12 links when there are more).
    static func linksLine(_ links: [RankLink]) -> String {
        let shown = links.count > 12 ? Array(links.sorted { $0.bytes > $1.bytes }.prefix(12)) : links
        let parts = shown.map { String(format: "%d→%d %@ %.1f MB", $0.rank, $0.peer, $0.transport, Double($0.bytes) / 1e6) }
        return "links: " + parts.joined(separator: ", ") + (shown.count < links.count ? ", …" : "")
    }

    func clear() {
        lock.lock()
        defer { lock.unlock() }
        if drawn {
            FileHandle.standardError.write(Data("\n".utf8))
            drawn = false
        }
    }

    private func bar(_ p: ClusterProgress) {
        let now = Date()
        lock.lock()
        let due = tty ? now.timeIntervalSince(lastLine) > 0.1 : now.timeIntervalSince(lastLine) > 2
        if due { lastLine = now }
        lock.unlock()
        guard due else { return }
        let inEpoch = p.step - p.epoch * p.stepsPerEpoch
        let frac = Double(inEpoch) / Double(max(p.stepsPerEpoch, 1))
        let width = 24
        let filled = max(0, min(width, Int(frac * Double(width))))
        let text = String(
            format: "epoch %d [%@%@] step %d/%d  loss %.4f  acc %.3f  %.0f samples/s  comm wait %.0f%%",
            p.epoch + 1, String(repeating: "#", count: filled), String(repeating: ".", count: width - filled),
            p.step, p.totalSteps, p.loss, p.accuracy, p.samplesPerSecond, 100 * p.communicationShare)
        lock.lock()
        defer { lock.unlock() }
        if tty {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
            drawn = true
        } else {
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }

    /// A log record at `level`; a progress bar drawn on the terminal is cleared first, so the line starts clean.
    private func line(_ s: String, _ level: Logger.Level = .info) {
        lock.lock()
        defer { lock.unlock() }
        if drawn && level >= logger.logLevel {
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
            drawn = false
        }
        logger.log(level: level, "\(s)")
    }
}
