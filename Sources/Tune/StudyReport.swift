import Config
import Foundation

/// The study's results as a table: one row per finished run (trial, rung, budget, metric, seconds, each searched
/// key), written as CSV for `scripts/plot_tune.py` and printed best-first in the terminal.
public struct StudyReport: Sendable {
    public let keys: [String]
    public let rows: [StudyRecord]
    public let spec: TuneSpec

    public init(spec: TuneSpec, file: StudyFile) {
        keys = spec.keys
        rows = file.results
        self.spec = spec
    }

    /// The best finished run (the best metric: highest accuracy or lowest loss; ties: the larger budget, then the
    /// lower trial).
    public var best: StudyRecord? {
        rows.filter { $0.metric?.isFinite == true }.max { a, b in
            (score(a), a.budget ?? 0, -(a.trial ?? 0)) < (score(b), b.budget ?? 0, -(b.trial ?? 0))
        }
    }

    /// A row's metric as ranked (higher better); a failed run below every other.
    private func score(_ r: StudyRecord) -> Double { spec.score(r.metric) ?? -.infinity }

    /// Trials with at least one finished run.
    public var trials: Int { Set(rows.compactMap(\.trial)).count }

    public var csv: String {
        var lines = [(["trial", "rung", "budget", "metric", "seconds"] + keys).joined(separator: ",")]
        for r in rows {
            var fields = [r.trial.map(String.init) ?? "", r.rung.map(String.init) ?? "", r.budget.map(String.init) ?? ""]
            fields.append(r.metric.map { String(format: "%.6f", $0) } ?? "")
            fields.append(r.seconds.map { String(format: "%.3f", $0) } ?? "")
            fields += keys.map { k in Self.csvField(r.config?[k]?.description ?? "") }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains(" ") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// The `limit` best trials (each at its largest finished budget), as aligned text lines.
    public func table(limit: Int = 10) -> [String] {
        var last: [Int: StudyRecord] = [:]
        for r in rows {
            guard let t = r.trial else { continue }
            if (last[t]?.budget ?? -1) <= (r.budget ?? 0) { last[t] = r }
        }
        let ranked = last.values.sorted { (score($0), -($0.trial ?? 0)) > (score($1), -($1.trial ?? 0)) }
        let pad = { (s: String, n: Int) in String(repeating: " ", count: max(0, n - s.count)) + s }
        var lines = ["trial  rung  budget    metric  seconds  " + keys.joined(separator: "  ")]
        for r in ranked.prefix(limit) {
            let metric = r.metric.map { String(format: "%.4f", $0) } ?? "failed"
            lines.append(
                pad("\(r.trial ?? 0)", 5) + pad("\(r.rung ?? 0)", 6) + pad("\(r.budget ?? 0)", 8) + pad(metric, 10)
                    + pad(String(format: "%.1f", r.seconds ?? 0), 9) + "  "
                    + keys.map { r.config?[$0]?.description ?? "" }.joined(separator: "  "))
        }
        return lines
    }
}
