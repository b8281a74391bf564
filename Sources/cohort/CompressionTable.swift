import Foundation

/// `cohort compress report`'s results: one row per model file, as CSV (for scripts/plot_compression.py and
/// spreadsheets) and as a markdown table for the README, each row compared with its workload's fp32 model.
struct CompressionTable {
    struct Row {
        let workload: String
        let method: String
        let format: String
        let layers: String
        let nonzeroWeights: Int
        let bytes: Int
        let accuracy: Double
        let latencyMs: Double
        let p99Ms: Double
        let samplesPerSecond: Double
        let note: String
    }

    let rows: [Row]

    /// The workload's fp32 row (the first method "fp32").
    func baseline(of row: Row) -> Row? { rows.first { $0.workload == row.workload && $0.method == "fp32" } }

    var csv: String {
        var text =
            "workload,method,format,layers,nonzero_weights,bytes,test_accuracy,latency_ms_batch1,p99_ms_batch1,samples_per_s_batch128,note\n"
        for r in rows {
            let fields = [
                r.workload, r.method, r.format, r.layers, String(r.nonzeroWeights), String(r.bytes),
                String(format: "%.4f", r.accuracy), String(format: "%.4f", r.latencyMs), String(format: "%.4f", r.p99Ms),
                String(format: "%.1f", r.samplesPerSecond), r.note,
            ]
            text += fields.map(Self.csvField).joined(separator: ",") + "\n"
        }
        return text
    }

    var markdown: String {
        var text = """
            | workload | method | layers | test acc. | Δ fp32 (pp) | bytes | × smaller | batch 1 median / p99 (ms) | batch 128 samples/s | × fp32 |
            |---|---|---|---:|---:|---:|---:|---:|---:|---:|

            """
        for r in rows {
            let base = baseline(of: r)
            let delta = base.map { String(format: "%+.2f", (r.accuracy - $0.accuracy) * 100) } ?? "–"
            let smaller = base.map { String(format: "%.2f", Double($0.bytes) / Double(max(1, r.bytes))) } ?? "–"
            let faster = base.map { String(format: "%.2f", r.samplesPerSecond / max(1e-9, $0.samplesPerSecond)) } ?? "–"
            text +=
                "| \(r.workload) | \(r.method) | \(r.layers) | \(String(format: "%.2f%%", r.accuracy * 100)) | \(delta) | "
                + "\(r.bytes) | \(smaller) | \(String(format: "%.3f / %.3f", r.latencyMs, r.p99Ms)) | "
                + "\(String(format: "%.0f", r.samplesPerSecond)) | \(faster) |\n"
        }
        return text
    }

    /// RFC 4180: quoted when it holds a comma, quote or newline.
    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
