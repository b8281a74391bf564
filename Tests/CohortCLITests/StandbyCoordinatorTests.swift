import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 14, item 5's stretch goal: a standby coordinator. The coordinator, a standby and two workers are
/// hand-started processes over ZeroMQ, at the default heartbeat and deadline; the coordinator is SIGKILLed mid-job.
/// The workers find its connection closed within three heartbeats, report to the standby and train on; the standby
/// takes the job over within 3 s and finishes it, and the final weights are bitwise those of a run that was never
/// interrupted: no step is lost or redone.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct StandbyCoordinatorTests {
    static let deadline = 5.0
    static let heartbeat = 0.5
    static let steps = 6000

    func clusterYAML(dir: URL, standbyPort: Int?, token: String?) -> String {
        handStartedClusterYAML(
            dir: dir, steps: Self.steps, deadline: Self.deadline, token: token, standbyPort: standbyPort,
            heartbeat: Self.heartbeat)
    }

    @Test func theStandbyTakesOverAndTheJobEndsAsIfUninterrupted() throws {
        let binary = try requireCohortBinary()
        let dir = try scratchDirectory("standby")
        defer { try? FileManager.default.removeItem(at: dir) }
        let token = dir.appendingPathComponent("token").path
        try (testJobToken + "\n").write(toFile: token, atomically: true, encoding: .utf8)
        chmod(token, 0o600)
        let config = dir.appendingPathComponent("cluster.yaml").path
        let port = try Self.freePort()
        try clusterYAML(dir: dir, standbyPort: port, token: token).write(toFile: config, atomically: true, encoding: .utf8)
        let standby = try ChildProcess(binary, ["coordinator", "--config", config, "--standby"])
        defer { standby.kill() }
        let coordinator = try ChildProcess(binary, ["coordinator", "--config", config, "--ephemeral-ports"])
        defer { coordinator.kill() }
        let endpoint = try #require(Self.endpoint(in: coordinator), "\(coordinator.output)")
        // Rank 0 computes 100 times slower (the time, not the math), so that the job outlives the kill by seconds.
        let workers = try (0..<2).map { i in
            try ChildProcess(
                binary,
                [
                    "worker", "--coordinator", endpoint, "--host", "127.0.0.1", "--local-index", "\(i)",
                    "--data-port", "0", "--token-file", token, "--rendezvous-timeout", "30",
                ], environment: ["COHORT_DEBUG_SLOW_RANK": "0:100"])
        }
        defer { for w in workers { w.kill() } }
        let metrics = dir.appendingPathComponent("metrics.jsonl").path
        let trained = Date()
        while Date().timeIntervalSince(trained) < 60
            && !((try? String(contentsOfFile: metrics, encoding: .utf8)) ?? "").contains("\"rank\"")
        {
            usleep(50_000)
        }
        kill(coordinator.process.processIdentifier, SIGKILL)
        let killed = Date()
        var tookOver: Double?
        while Date().timeIntervalSince(killed) < Self.deadline + 10 && tookOver == nil {
            if standby.output.contains("took over membership") { tookOver = Date().timeIntervalSince(killed) }
            usleep(20_000)
        }
        let status = standby.wait(timeout: 90)
        let outputs = workers.map { $0.wait(timeout: 10) == 0 ? nil : $0.output }
        #expect(status == 0, "\(standby.output)")
        #expect(outputs.allSatisfy { $0 == nil }, "a worker failed: \(outputs)")
        let seconds = try #require(tookOver, "no takeover: \(standby.output)")
        // Its connection found closed (three heartbeats, 1.5 s) and taken over before the default 5 s deadline, which
        // only the closed-connection watch can do. The issue's 3 s is timed by scripts/standby-takeover.py (1.51 s);
        // a test on 2 cores shared with the rest of the suite would time the machine's load as much.
        #expect(seconds < Self.deadline, "took over \(seconds) s after the kill")
        #expect(standby.output.contains("done: 2 workers, \(Self.steps) steps"), "\(standby.output)")
        #expect(standby.output.contains("weights: identical on all workers"), "\(standby.output)")
        #expect(workers.allSatisfy { $0.output.contains("reporting to the standby coordinator") }, "\(workers.map(\.output))")
        let reference = dir.appendingPathComponent("reference")
        try FileManager.default.createDirectory(at: reference, withIntermediateDirectories: true)
        let referenceConfig = reference.appendingPathComponent("cluster.yaml").path
        try clusterYAML(dir: reference, standbyPort: nil, token: nil)
            .write(toFile: referenceConfig, atomically: true, encoding: .utf8)
        let uninterrupted = try ProcessRunner.run(binary.path, ["launch", referenceConfig, "--ephemeral-ports"], timeout: 120)
        #expect(uninterrupted.status == 0, "\(uninterrupted.stdout)\(uninterrupted.stderr)")
        let sums = Self.doneChecksums(metrics)
        #expect(sums != nil && sums == Self.doneChecksums(reference.appendingPathComponent("metrics.jsonl").path))
    }

    static func endpoint(in process: ChildProcess) -> String? {
        let start = Date()
        while Date().timeIntervalSince(start) < 20 {
            if let r = process.output.range(of: #"tcp://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                return String(process.output[r])
            }
            usleep(20_000)
        }
        return nil
    }

    /// A tcp port nobody listens on now (bound to port 0 and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        try #require(bound, "no free port")
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func doneChecksums(_ path: String) -> [String]? {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let done = text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.last { $0["event"] as? String == "done" }
        return (done?["summary"] as? [String: Any])?["weightChecksums"] as? [String]
    }
}
