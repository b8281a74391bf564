import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The coordinator's HTTP endpoint (`output.http`, issue 18) during real 2-worker runs: `/metrics`, `/api/status`
/// and `/` answer with the token and refuse without it; garbage and a slowloris client leave training running.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct StatusEndpointCLITests {
    @Test func endpointsAnswerWithTokenAndRefuseWithout() throws {
        let dir = try scratchDirectory("http")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try StatusRun(dir: dir)
        defer { run.stop() }
        for path in ["/metrics", "/api/status", "/"] {
            let r = try HTTPProbe.get(port: run.port, path)
            #expect(r.status == 401, "\(path) without a token: \(r.status)")
            let wrong = try HTTPProbe.get(port: run.port, path, headers: ["Authorization": "Bearer not-the-token"])
            #expect(wrong.status == 401, "\(path) with a wrong token: \(wrong.status)")
        }
        let metrics = try HTTPProbe.get(port: run.port, "/metrics", headers: run.bearer)
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        for name in [
            "cohort_samples_per_second", "cohort_step", "cohort_epoch", "cohort_loss", "cohort_accuracy",
            "cohort_rank_compute_seconds_total{rank=\"1\"}", "cohort_rank_allreduce_seconds_total",
            "cohort_rank_wait_seconds_total", "cohort_membership_size 2", "cohort_checkpoints_written_total",
            "cohort_dropped_messages_total", "cohort_link_bytes_sent_total{rank=\"0\",peer=\"1\",transport=",
        ] {
            #expect(metrics.body.contains(name), "/metrics lacks \(name)")
        }
        let status = try run.status()
        #expect(status["state"] as? String == "training")
        #expect((status["workers"] as? [[String: Any]])?.count == 2)
        // The printed link's ?token= sets the cookie; the page then loads with it.
        let link = try HTTPProbe.get(port: run.port, "/?token=\(run.token)")
        #expect(link.status == 303)
        let cookie = try #require(link.headers["set-cookie"]?.split(separator: ";").first.map(String.init))
        let page = try HTTPProbe.get(port: run.port, "/", headers: ["Cookie": cookie])
        #expect(page.status == 200 && page.body.contains("<canvas"), "page: \(page.status)")
        #expect(!page.body.contains("http://") && !page.body.contains("https://"), "the page loads nothing from outside")
        run.expectStillTraining()
    }

    /// A client that sends garbage, and one that sends its request a byte at a time and never finishes: the
    /// endpoint answers others meanwhile, and the workers keep stepping.
    @Test func malformedAndSlowClientsDoNotDisturbTraining() throws {
        let dir = try scratchDirectory("http-abuse")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try StatusRun(dir: dir)
        defer { run.stop() }
        let before = try run.step()
        let garbage = try HTTPProbe(port: run.port)
        garbage.send("\u{01}\u{02}NOT HTTP AT ALL\r\n\u{FF}\r\n\r\n")
        let answer = garbage.readResponse()
        #expect(answer == nil || answer?.status == 400, "garbage got \(String(describing: answer?.status))")
        let slow = try (0..<8).map { _ in try HTTPProbe(port: run.port, timeout: 1) }
        let request = Array("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        for i in 0..<12 {
            for s in slow { s.send(String(request[min(i, request.count - 1)])) }
            let r = try HTTPProbe.get(port: run.port, "/api/status", headers: run.bearer, timeout: 2)
            #expect(r.status == 200, "a request while slow clients hold connections: \(r.status)")
            usleep(250_000)
        }
        let after = try run.step()
        #expect(after > before, "training stalled: step \(before) → \(after)")
        run.expectStillTraining()
    }
}

/// A 2-worker launch that trains until stopped, with `output.http` on a free port of 127.0.0.1.
final class StatusRun {
    let launch: ChildProcess
    let port: Int
    let token: String
    var bearer: [String: String] { ["Authorization": "Bearer \(token)"] }

    init(dir: URL, extraOutput: String = "", environment: [String: String]? = nil, steps: Int = 10_000_000) throws {
        let config = dir.appendingPathComponent("cluster.yaml").path
        let yaml = smallClusterYAML(workers: 2, steps: steps, dir: dir).replacingOccurrences(
            of: "output: {metrics_file: \(dir.path)/metrics.jsonl}",
            with: "output: {metrics_file: \(dir.path)/metrics.jsonl, http: {address: 127.0.0.1, port: 0}\(extraOutput)}")
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        launch = try ChildProcess(try requireCohortBinary(), ["launch", config, "--ephemeral-ports"], environment: environment)
        let start = Date()
        var found: (Int, String)?
        while Date().timeIntervalSince(start) < 30, found == nil {
            found = Self.statusLink(launch.output)
            if found == nil { usleep(50_000) }
        }
        guard let (port, token) = found else {
            launch.kill()
            throw TestFailure("no status line: \(launch.output)")
        }
        (self.port, self.token) = (port, token)
        while Date().timeIntervalSince(start) < 30, !launch.output.contains("training") { usleep(50_000) }
        usleep(600_000)  // a few progress reports
    }

    /// `status: http://127.0.0.1:PORT/?token=TOKEN` from the launch's output.
    static func statusLink(_ output: String) -> (Int, String)? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("status: http://") }) else { return nil }
        let url = line.dropFirst("status: http://".count)
        guard let colon = url.firstIndex(of: ":"), let slash = url.firstIndex(of: "/"),
            let port = Int(url[url.index(after: colon)..<slash]), let eq = url.firstIndex(of: "=")
        else { return nil }
        return (port, String(url[url.index(after: eq)...]))
    }

    func status() throws -> [String: Any] {
        let r = try HTTPProbe.get(port: port, "/api/status", headers: bearer)
        guard r.status == 200, let o = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any] else {
            throw TestFailure("/api/status: \(r.status) \(r.body.prefix(200))")
        }
        return o
    }

    func step() throws -> Int {
        ((try status()["progress"] as? [String: Any])?["step"] as? Int) ?? 0
    }

    func expectStillTraining() {
        #expect(launch.process.isRunning, "the launch ended: \(launch.output)")
        #expect(!launch.output.contains("error"), "\(launch.output)")
    }

    func stop() {
        if launch.process.isRunning { kill(launch.process.processIdentifier, SIGINT) }
        if launch.wait(timeout: 15) == nil { launch.kill() }
    }
}
