import CohortTestSupport
import Config
import Foundation
import Observability
import Runtime
import Testing
import Training

/// The status server on loopback, fed by hand through the coordinator's hook: what each endpoint answers, the
/// token rule, and the Prometheus text.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct StatusServerTests {
    static let token = String(repeating: "abcdef0123456789", count: 4)

    func config() -> ClusterConfig {
        ClusterConfig(
            cluster: ClusterSection(name: "unit", coordinator: CoordinatorAddress(host: "127.0.0.1", port: 5555)),
            hosts: [HostSpec(address: "127.0.0.1", workers: 2)])
    }

    /// A state with two members, a few progress reports, an epoch and a checkpoint.
    func fedState(_ metrics: RunMetrics) -> RunState {
        let state = RunState(config: config(), workers: 2, metrics: metrics)
        state.membershipFormed(
            epoch: 0,
            members: (0..<2).map {
                MemberInfo(rank: $0, host: "127.0.0.1", pid: 100 + Int32($0), dataEndpoint: "tcp://x", stage: 0, replica: $0)
            })
        for step in stride(from: 10, through: 40, by: 10) {
            for rank in 0..<2 {
                var report = ProgressReport(
                    rank: rank, epoch: 0, step: step, stepsPerEpoch: 100, totalSteps: 200, steps: 10, samples: 160,
                    loss: 2.0 / Double(step), accuracy: 0.5, seconds: 0.1, computeSeconds: rank == 1 ? 0.08 : 0.04,
                    allReduceSeconds: 0.01, waitSeconds: rank == 1 ? 0.0 : 0.04)
                // Totals so far, as workers send them.
                report.links = [ReportedLink(peer: 1 - rank, transport: "shm", bytes: UInt64(step) * 1000)]
                state.rankReported(report, dropped: [.undecodable: 3])
            }
            state.coordinatorEvent(
                .progress(
                    ClusterProgress.point(
                        epoch: 0, step: step, stepsPerEpoch: 100, totalSteps: 200, loss: 2.0 / Double(step),
                        accuracy: 0.5, samplesPerSecond: 3200, communicationShare: 0.4)))
        }
        state.coordinatorEvent(.epoch(epoch: 0, trainLoss: 0.1, testAccuracy: 0.8, testLoss: 0.2))
        state.coordinatorEvent(.checkpointed(step: 40, path: "/tmp/ckpt"))
        return state
    }

    @Test func endpointsAnswerOnlyWithTheToken() throws {
        let metrics = RunMetrics()
        let state = fedState(metrics)
        let server = try StatusServer.start(host: "127.0.0.1", port: 0, token: Self.token, state: state, metrics: metrics)
        defer { server.stop() }
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""))
        for path in ["/", "/metrics", "/api/status", "/nope"] {
            #expect(try HTTPProbe.get(port: port, path).status == 401, "\(path)")
            #expect(try HTTPProbe.get(port: port, path, headers: ["Authorization": "Bearer x"]).status == 401)
            #expect(try HTTPProbe.get(port: port, path, headers: ["Cookie": "cohort_token=x"]).status == 401)
        }
        let bearer = ["Authorization": "Bearer \(Self.token)"]
        let m = try HTTPProbe.get(port: port, "/metrics", headers: bearer)
        #expect(m.status == 200)
        func value(_ series: String) -> Double? { sampleValue(m.body, series) }
        #expect(value("cohort_samples_per_second") == 3200, "\(m.body)")
        #expect(value("cohort_step") == 40)
        #expect(abs((value("cohort_rank_compute_seconds_total{rank=\"1\"}") ?? 0) - 0.32) < 1e-9, "4 windows × 0.08 s")
        #expect(value("cohort_dropped_messages_total{reason=\"undecodable\"}") == 3)
        #expect(value("cohort_dropped_messages_total{reason=\"oversized\"}") == 0)
        #expect(value("cohort_checkpoints_written_total") == 1)
        #expect(value("cohort_membership_size") == 2)
        #expect(
            value("cohort_link_bytes_sent_total{rank=\"0\",peer=\"1\",transport=\"shm\"}") == 40000,
            "the latest total, not a sum of totals: \(m.body)")
        #expect(m.body.contains("# HELP cohort_samples_per_second "))
        let cookie = try HTTPProbe.get(port: port, "/api/status", headers: ["Cookie": "cohort_token=\(Self.token)"])
        #expect(cookie.status == 200)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(cookie.body.utf8)) as? [String: Any])
        #expect(doc["state"] as? String == "training")
        #expect((doc["history"] as? [Any])?.count == 4)
        let workers = try #require(doc["workers"] as? [[String: Any]])
        #expect(workers.map { $0["straggler"] as? Bool } == [false, true], "rank 1 computes 2× rank 0")
        #expect(try HTTPProbe.get(port: port, "/nope", headers: bearer).status == 404)
    }

    @Test func publicEndpointAsksForNoToken() throws {
        let metrics = RunMetrics()
        let server = try StatusServer.start(
            host: "127.0.0.1", port: 0, token: nil, state: fedState(metrics), metrics: metrics)
        defer { server.stop() }
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""))
        #expect(try HTTPProbe.get(port: port, "/metrics").status == 200)
        #expect(try HTTPProbe.get(port: port, "/").body.contains("<canvas"))
    }

    @Test func aPortInUseIsAClearError() throws {
        let metrics = RunMetrics()
        let state = fedState(metrics)
        let first = try StatusServer.start(host: "127.0.0.1", port: 0, token: nil, state: state, metrics: metrics)
        defer { first.stop() }
        let port = try #require(Int(first.address.split(separator: ":").last ?? ""))
        do {
            let second = try StatusServer.start(host: "127.0.0.1", port: port, token: nil, state: state, metrics: metrics)
            second.stop()
            Issue.record("bound \(port) twice")
        } catch {
            #expect("\(error)".contains("output.http") && "\(error)".contains("\(port)"), "\(error)")
        }
    }

    /// Debian's promtool lints the exposition: names, types, help, `_total` on counters.
    @Test func promtoolAcceptsTheMetrics() throws {
        guard let promtool = ProcessRunner.which("promtool") else {
            print("skipped: promtool not installed (scripts/setup.sh installs Debian's prometheus)")
            return
        }
        let metrics = RunMetrics()
        let state = fedState(metrics)
        state.jobEnded(nil, reason: "test")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-metrics-\(getpid()).prom")
        try metrics.render().write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try ProcessRunner.run(
            "/bin/sh", ["-c", "\(promtool) check metrics < \(file.path)"], timeout: 30)
        #expect(r.status == 0, "promtool: \(r.stdout) \(r.stderr)")
    }
}

/// The value of one series (`name` or `name{labels}`) in a Prometheus text exposition.
func sampleValue(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1).split(separator: " ").first ?? "")
    }
    return nil
}
