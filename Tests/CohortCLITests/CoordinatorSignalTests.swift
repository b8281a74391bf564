import CohortTestSupport
import Foundation
import Testing

/// SIGTERM to a hand-started `cohort coordinator`, mid-rendezvous and mid-training: it tells every worker that
/// registered to stop, exits non-zero on its own (not killed by the signal), and no worker outlives the peer deadline.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct CoordinatorSignalTests {
    struct Cluster {
        let coordinator: ChildProcess
        let endpoint: String
        let token: String
    }

    func startCoordinator(dir: URL, workers: Int, steps: Int) throws -> Cluster {
        let binary = try requireCohortBinary()
        let token = dir.appendingPathComponent("token").path
        try (testJobToken + "\n").write(toFile: token, atomically: true, encoding: .utf8)
        chmod(token, 0o600)
        let config = dir.appendingPathComponent("cluster.yaml").path
        try smallClusterYAML(workers: workers, steps: steps, security: "{token_file: \(token)}", dir: dir)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let coordinator = try ChildProcess(binary, ["coordinator", "--config", config, "--ephemeral-ports"])
        let start = Date()
        while Date().timeIntervalSince(start) < 10 {
            if let range = coordinator.output.range(of: #"tcp://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                return Cluster(coordinator: coordinator, endpoint: String(coordinator.output[range]), token: token)
            }
            usleep(20_000)
        }
        coordinator.kill()
        throw TestFailure("the coordinator did not say where it listens: \(coordinator.output)")
    }

    func startWorker(_ cluster: Cluster, index: Int) throws -> ChildProcess {
        try ChildProcess(
            try requireCohortBinary(),
            [
                "worker", "--coordinator", cluster.endpoint, "--host", "127.0.0.1", "--local-index", "\(index)",
                "--data-port", "0", "--token-file", cluster.token, "--rendezvous-timeout", "30",
            ])
    }

    func waitFor(_ text: String, in process: ChildProcess, seconds: Double = 20) -> Bool {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if process.output.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }

    @Test func sigtermMidRendezvousStopsTheRegisteredWorker() throws {
        let dir = try scratchDirectory("sigterm-rendezvous")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cluster = try startCoordinator(dir: dir, workers: 2, steps: 5)
        defer { cluster.coordinator.kill() }
        let worker = try startWorker(cluster, index: 0)
        defer { worker.kill() }
        #expect(waitFor("1/2", in: cluster.coordinator) || waitFor("registered", in: cluster.coordinator))
        kill(cluster.coordinator.process.processIdentifier, SIGTERM)
        let status = cluster.coordinator.wait(timeout: 10)
        #expect(status != nil && status != 0, "coordinator: \(String(describing: status)) \(cluster.coordinator.output)")
        #expect(cluster.coordinator.process.terminationReason == .exit, "it must end itself, not die of the signal")
        #expect(cluster.coordinator.output.contains("signal"), "\(cluster.coordinator.output)")
        let workerStatus = worker.wait(timeout: 15)
        #expect(workerStatus != nil, "the registered worker outlived its coordinator: \(worker.output)")
    }

    @Test func sigtermMidTrainingStopsEveryWorker() throws {
        let dir = try scratchDirectory("sigterm-training")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cluster = try startCoordinator(dir: dir, workers: 2, steps: 10_000_000)
        defer { cluster.coordinator.kill() }
        let workers = try (0..<2).map { try startWorker(cluster, index: $0) }
        defer { for w in workers { w.kill() } }
        #expect(waitFor("step", in: cluster.coordinator), "training did not start: \(cluster.coordinator.output)")
        let start = Date()
        kill(cluster.coordinator.process.processIdentifier, SIGTERM)
        let status = cluster.coordinator.wait(timeout: 10)
        #expect(status != nil && status != 0, "coordinator: \(String(describing: status))")
        #expect(cluster.coordinator.process.terminationReason == .exit)
        for (i, w) in workers.enumerated() {
            let s = w.wait(timeout: 15)
            #expect(s != nil, "worker \(i) outlived its coordinator: \(w.output)")
        }
        #expect(Date().timeIntervalSince(start) < 15)
    }
}
