import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The endpoint as its users' tools see it during real 2-worker runs (issue 18): a Prometheus server scraping it,
/// headless Chromium loading the live page, and the straggler report of a run with a slowed rank.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct StatusWatchersCLITests {
    /// Debian's Prometheus on loopback scrapes `/metrics` (with the token as its bearer credentials) once a
    /// second and records at least 3 samples of cohort_samples_per_second.
    @Test func prometheusScrapesARun() throws {
        guard let prometheus = ProcessRunner.which("prometheus") else {
            print("skipped: prometheus is not installed (scripts/setup.sh installs Debian's prometheus)")
            return
        }
        let dir = try scratchDirectory("prom")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try StatusRun(dir: dir)
        defer { run.stop() }
        let holder = try TCPPortHolder()
        let webPort = holder.port
        holder.close()
        let config = dir.appendingPathComponent("prometheus.yml")
        try """
        global: {scrape_interval: 1s, evaluation_interval: 1s}
        scrape_configs:
          - job_name: cohort
            authorization: {credentials: \(run.token)}
            static_configs: [{targets: ['127.0.0.1:\(run.port)']}]
        """.write(to: config, atomically: true, encoding: .utf8)
        let server = try ChildProcess(
            URL(fileURLWithPath: prometheus),
            [
                "--config.file=\(config.path)", "--storage.tsdb.path=\(dir.path)/tsdb",
                "--web.listen-address=127.0.0.1:\(webPort)",
            ])
        defer { server.kill() }
        var samples = 0
        let start = Date()
        while Date().timeIntervalSince(start) < 40, samples < 3 {
            usleep(1_000_000)
            let query = "count_over_time(cohort_samples_per_second[5m])"
            guard
                let r = try? HTTPProbe.get(
                    port: webPort,
                    "/api/v1/query?query=\(query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"),
                r.status == 200, let o = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any],
                let result = (o["data"] as? [String: Any])?["result"] as? [[String: Any]],
                let value = (result.first?["value"] as? [Any])?.last as? String
            else { continue }
            samples = Int(Double(value) ?? 0)
        }
        #expect(samples >= 3, "Prometheus recorded \(samples) samples: \(server.output.suffix(2000))")
        run.expectStillTraining()
    }

    /// Headless Chromium loads the page through the printed link (its token becomes a cookie), runs its script
    /// until the page has redrawn at least twice, and the DOM holds the curves and one row per worker, rank 1
    /// flagged as the straggler (it computes 8× as long). A screenshot goes to the test's output directory.
    @Test func livePageInHeadlessChromium() throws {
        guard let chromium = ProcessRunner.which("chromium") else {
            print("skipped: chromium is not installed (scripts/setup.sh installs Debian's chromium)")
            return
        }
        let dir = try scratchDirectory("page")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try StatusRun(dir: dir, environment: ["COHORT_DEBUG_SLOW_RANK": "1:8.0"])
        defer { run.stop() }
        usleep(1_500_000)  // enough windows for the medians
        let link = "http://127.0.0.1:\(run.port)/?token=\(run.token)"
        let flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(dir.path)/chromium", "--virtual-time-budget=5000",
        ]
        let dom = try ProcessRunner.run(chromium, flags + ["--dump-dom", link], timeout: 60)
        #expect(dom.status == 0, "chromium: \(dom.stderr.suffix(1000))")
        let updates = Int(dom.stdout.firstMatch(of: /data-updates="(\d+)"/)?.1 ?? "") ?? 0
        #expect(updates >= 2, "the page redrew \(updates) times")
        #expect(dom.stdout.contains("data-state=\"training\""))
        let rows = dom.stdout.matches(of: /<tr class="worker( straggler)?" data-rank="(\d)"/)
        #expect(rows.count == 2, "worker rows: \(rows.count)")
        #expect(rows.map { $0.1 != nil } == [false, true], "rank 1 is flagged, rank 0 is not")
        #expect(dom.stdout.contains("<canvas id=\"loss\""))
        let output = try testOutputDirectory()
        let shot = output.appendingPathComponent("status-page.png")
        try? FileManager.default.removeItem(at: shot)
        let s = try ProcessRunner.run(
            chromium, flags + ["--hide-scrollbars", "--window-size=1000,900", "--screenshot=\(shot.path)", link], timeout: 60)
        let size = (try? FileManager.default.attributesOfItem(atPath: shot.path)[.size] as? Int) ?? 0
        #expect(s.status == 0 && size > 10_000, "screenshot: \(size) bytes, \(s.stderr.suffix(500))")
        run.expectStillTraining()
    }

    /// A run with rank 1 slowed 8× names rank 1 in the done line's stragglers and in one human line.
    @Test func slowedRankIsTheStragglerInTheDoneLine() throws {
        let dir = try scratchDirectory("straggler")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let yaml = smallClusterYAML(workers: 2, steps: 1000, dir: dir).replacingOccurrences(
            of: "layers: [16, 24, 4]", with: "layers: [16, 256, 256, 4]")
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cohort(
            ["launch", config, "--json", "--ephemeral-ports"], timeout: 90,
            environment: ["COHORT_DEBUG_SLOW_RANK": "1:8.0"])
        #expect(r.status == 0, "\(r.stderr)")
        let done = try #require(lastJSONObject(r.stdout), "\(r.stdout)")
        let stragglers = try #require(done["stragglers"] as? [String: Any], "\(done)")
        #expect(stragglers["waited_on"] as? Int == 1, "\(stragglers)")
        let ranks = try #require(stragglers["ranks"] as? [[String: Any]])
        #expect(ranks.count == 2)
        let ratio = ranks.first { $0["rank"] as? Int == 1 }?["compute_ratio"] as? Double ?? 0
        // 8× its own compute, but on 2 shared cores both ranks' compute swings with the load: rank 0's time counts
        // the CPU that other tests take from it (a 3× slowdown was once seen as only 1.14× in CI), so the factor
        // leaves a wide margin and only the flag's threshold is asserted.
        #expect(ratio >= 1.2, "rank 1 computes \(ratio)× rank 0 under an 8× slowdown")
        for rank in ranks {
            for key in ["median_step_s", "median_compute_s", "median_wait_s"] { #expect(rank[key] as? Double != nil) }
        }
        let human = try cohort(
            ["launch", config, "--ephemeral-ports"], timeout: 90, environment: ["COHORT_DEBUG_SLOW_RANK": "1:8.0"])
        #expect(human.status == 0, "\(human.stderr)")
        #expect(human.stderr.contains("stragglers: rank 1 computes "), "\(human.stderr)")
    }
}

/// Where a test leaves what a person may want to look at: `$COHORT_TEST_OUTPUT`, else `.build/test-output`.
func testOutputDirectory() throws -> URL {
    let path =
        ProcessInfo.processInfo.environment["COHORT_TEST_OUTPUT"]
        ?? FileManager.default.currentDirectoryPath + "/.build/test-output"
    let url = URL(fileURLWithPath: path)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// `--log-level` and `COHORT_LOG_LEVEL` on a real launch, and `output.log_file`'s JSON lines.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct LogLevelCLITests {
    func launch(_ extra: [String], environment: [String: String]? = nil, logFile: Bool = false) throws -> (CLIResult, URL) {
        let dir = try scratchDirectory("log")
        let config = dir.appendingPathComponent("cluster.yaml").path
        var yaml = smallClusterYAML(workers: 2, steps: 20, dir: dir)
        if logFile {
            yaml = yaml.replacingOccurrences(
                of: "output: {metrics_file: \(dir.path)/metrics.jsonl}",
                with: "output: {metrics_file: \(dir.path)/metrics.jsonl, log_file: \(dir.path)/cohort.log.jsonl}")
        }
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cohort(["launch", config, "--ephemeral-ports"] + extra, timeout: 45, environment: environment)
        #expect(r.status == 0, "\(r.stderr)")
        return (r, dir)
    }

    @Test func levelsFilterTheLines() throws {
        let (info, d1) = try launch([])
        defer { try? FileManager.default.removeItem(at: d1) }
        #expect(info.stderr.contains("coordinator: listening on"))
        #expect(info.stderr.contains("done: 2 workers"))
        #expect(!info.stderr.contains("coordinator: peers"), "debug lines hidden at info")
        let (debug, d2) = try launch([], environment: ["COHORT_LOG_LEVEL": "debug"])
        defer { try? FileManager.default.removeItem(at: d2) }
        #expect(debug.stderr.contains("coordinator: peers 0=tcp://"), "\(debug.stderr)")
        let (notice, d3) = try launch(["--log-level", "notice"], environment: ["COHORT_LOG_LEVEL": "debug"])
        defer { try? FileManager.default.removeItem(at: d3) }
        #expect(!notice.stderr.contains("coordinator: listening"), "the option beats the environment: \(notice.stderr)")
        #expect(notice.stderr.contains("done: 2 workers"))
        let (error, d4) = try launch(["--log-level", "error"])
        defer { try? FileManager.default.removeItem(at: d4) }
        #expect(!error.stderr.contains("done:") && !error.stderr.contains("coordinator:"), "\(error.stderr)")
        let bad = try cohort(["launch", "/nonexistent.yaml", "--log-level", "loud"], timeout: 20)
        #expect(bad.status != 0 && bad.stderrLines.count == 1, "\(bad.stderr)")
    }

    @Test func logFileGetsJSONLinesWithRankAndHost() throws {
        let (r, dir) = try launch(["--log-level", "info"], logFile: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = try String(contentsOf: dir.appendingPathComponent("cohort.log.jsonl"), encoding: .utf8)
        let records = text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]
        }
        #expect(records.count == text.split(separator: "\n").count, "every line is one JSON object")
        #expect(records.contains { $0["message"]?.hasPrefix("done: 2 workers") == true && $0["level"] == "notice" })
        #expect(records.contains { $0["message"]?.hasPrefix("coordinator: listening") == true && $0["level"] == "info" })
        #expect(records.allSatisfy { $0["rank"] == "coordinator" && $0["host"]?.isEmpty == false && $0["ts"] != nil })
        // The human lines are the same records.
        for record in records { #expect(r.stderr.contains(record["message"] ?? "?"), "\(record)") }
    }
}
