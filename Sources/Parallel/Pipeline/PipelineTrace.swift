import Foundation

/// Chrome trace-event spans ("ph":"X", microseconds) of one rank, viewable in Perfetto or chrome://tracing.
/// Each rank writes its own file (`<path>.rank<N>.json`, no coordination needed on a hot path);
/// `mergeChromeTraces` joins those of one host into the file the user asked for.
public final class ChromeTrace {
    public let rank: Int
    private var events: [String] = []
    private let origin: UInt64

    /// `origin`: the monotonic nanosecond all timestamps are relative to (the same clock on every process of a host).
    public init(rank: Int, origin: UInt64 = 0) {
        self.rank = rank
        self.origin = origin
    }

    public func span(_ name: String, category: String, start: UInt64, end: UInt64, thread: Int = 0, args: [String: Int] = [:]) {
        let ts = Double(start &- origin) / 1e3
        let dur = Double(end &- start) / 1e3
        let a =
            args.isEmpty
            ? ""
            : ",\"args\":{" + args.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
        events.append(
            "{\"name\":\"\(name)\",\"cat\":\"\(category)\",\"ph\":\"X\"," + String(format: "\"ts\":%.3f,\"dur\":%.3f,", ts, dur)
                + "\"pid\":\(rank),\"tid\":\(thread)" + a + "}")
    }

    /// Adds one pipeline step's spans: forward/backward per micro-batch, waits to receive, the all-reduce and the update.
    public func add(step: Int, _ t: PipelineStepTiming) {
        for w in t.receives { span("recv \(w.op)", category: "receive", start: w.start, end: w.end, args: ["step": step]) }
        for s in t.spans {
            span("\(s.op)", category: s.op.isForward ? "forward" : "backward", start: s.start, end: s.end, args: ["step": step])
        }
        for s in t.sends {
            span("send \(s.op)", category: "send", start: s.start, end: s.end, args: ["step": step, "bytes": s.bytes])
        }
        if let r = t.allReduceSpan { span("all-reduce", category: "allreduce", start: r.start, end: r.end, args: ["step": step]) }
        span("update", category: "optimizer", start: t.allReduceSpan?.end ?? t.flushed, end: t.end, args: ["step": step])
    }

    public func write(to path: String) throws {
        let text =
            "{\"traceEvents\":[\n"
            + (["{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":\(rank),\"args\":{\"name\":\"rank \(rank)\"}}"] + events)
            .joined(separator: ",\n") + "\n]}\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The per-rank file of `path`.
    public static func rankFile(_ path: String, rank: Int) -> String { "\(path).rank\(rank).json" }
}

/// Joins the per-rank trace files of `path` found on this host into `path` and removes them. Returns how many
/// ranks' files were merged (ranks on other hosts leave theirs there).
@discardableResult
public func mergeChromeTraces(path: String, ranks: Int) throws -> Int {
    var events: [Any] = []
    var merged = 0
    for r in 0..<ranks {
        let file = ChromeTrace.rankFile(path, rank: r)
        guard let data = FileManager.default.contents(atPath: file),
            let o = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let e = o["traceEvents"] as? [Any]
        else { continue }
        events += e
        merged += 1
        try? FileManager.default.removeItem(atPath: file)
    }
    let out = try JSONSerialization.data(withJSONObject: ["traceEvents": events, "displayTimeUnit": "ms"])
    try out.write(to: URL(fileURLWithPath: path))
    return merged
}
