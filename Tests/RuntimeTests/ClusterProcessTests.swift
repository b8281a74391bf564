import CohortTestSupport
import Foundation
import Runtime
import Testing
import Training

/// A cluster file for real processes on 127.0.0.1 with OS-chosen ports and synthetic data.
func writeClusterFile(workers: Int, steps: Int? = nil, epochs: Int = 3, deadline: Double = 15, dir: URL) throws -> URL {
    let stepsLine = steps.map { "  steps: \($0)\n" } ?? ""
    let yaml = """
        cluster:
          name: test
          coordinator: {host: 127.0.0.1, port: 5555}
          data_ports: 5600
          interface: 127.0.0.1
        hosts:
          - address: 127.0.0.1
            workers: \(workers)
        job:
          model: {layers: [32, 48, 10], activation: relu, init: he_normal}
          optimizer: {name: momentum, lr: 0.05, momentum: 0.9}
          data: {dataset: synthetic}
          batch_size: 60
          epochs: \(epochs)
        \(stepsLine)  seed: 3
        parallelism: {data_parallel: \(workers)}
        timeouts: {heartbeat_interval_s: 0.2, peer_deadline_s: \(deadline), rendezvous_timeout_s: 30}
        output: {metrics_file: \(dir.path)/metrics.jsonl}
        checkpoint: {directory: \(dir.path)/checkpoints, every_steps: 100, keep: 2}
        """
    let url = dir.appendingPathComponent("cluster.yaml")
    try yaml.write(to: url, atomically: true, encoding: .utf8)
    return url
}

func temporaryDirectory() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

func lastJSONLine(_ text: String) -> [String: Any]? {
    for line in text.split(separator: "\n").reversed() where line.hasPrefix("{") {
        if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { return o }
    }
    return nil
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct ClusterProcessTests {
    @Test func threeWorkersTrainWithIdenticalWeightsAndFallingLoss() throws {
        let binary = try requireCohortBinary()
        let dir = try temporaryDirectory()
        let config = try writeClusterFile(workers: 3, epochs: 3, dir: dir)
        let r = try ProcessRunner.run(binary.path, ["launch", config.path, "--json", "--ephemeral-ports"], timeout: 120)
        #expect(r.status == 0, "launch failed: \(r.stderr)")
        let done = try #require(lastJSONLine(r.stdout), "no JSON summary in: \(r.stdout)")
        #expect(done["event"] as? String == "done")
        #expect(done["workers"] as? Int == 3)
        let sums = try #require(done["weight_checksums"] as? [String])
        #expect(sums.count == 3 && Set(sums).count == 1, "weights differ: \(sums)")
        // The coordinator's metrics file has one epoch record per epoch; the training loss falls.
        let metrics = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        let epochs = metrics.split(separator: "\n").compactMap { line -> Double? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                o["event"] as? String == "epoch", let e = o["epoch"] as? [String: Any]
            else { return nil }
            return e["trainLoss"] as? Double
        }
        #expect(epochs.count == 3)
        if epochs.count == 3 { #expect(epochs[2] < epochs[0], "training loss did not fall: \(epochs)") }
    }

    @Test func killedWorkerIsNamedAndEveryoneStops() throws {
        let binary = try requireCohortBinary()
        let dir = try temporaryDirectory()
        let config = try writeClusterFile(workers: 2, steps: 10_000_000, deadline: 2, dir: dir)
        try killOneWorkerAndExpectCleanFailure(binary: binary, config: config, what: "worker")
        // Rank 0 checkpointed every 100 steps while it trained: the newest one is intact and loads.
        let checkpoint = latestValidCheckpoint(in: dir.appendingPathComponent("checkpoints").path)
        #expect(checkpoint != nil && checkpoint!.step > 0, "no valid checkpoint survived the failure")
    }
}

/// Launches a 2-worker cluster (2 s peer deadline), SIGKILLs one worker once training runs, and expects the
/// launch to fail within a few deadlines naming a rank and its host, with no worker left alive.
func killOneWorkerAndExpectCleanFailure(binary: URL, config: URL, what: String) throws {
    let launch = try ChildProcess(binary, ["launch", config.path, "--ephemeral-ports"])
    // Wait until both workers exist and training has begun.
    var workers: [Int32] = []
    let start = Date()
    while Date().timeIntervalSince(start) < 30 {
        workers = childPids(of: launch.process.processIdentifier)
        if workers.count == 2 && launch.output.contains("training") { break }
        usleep(100_000)
    }
    #expect(workers.count == 2, "workers did not start: \(launch.output)")
    guard workers.count == 2 else {
        launch.kill()
        return
    }
    usleep(1_000_000)
    kill(workers.max()!, SIGKILL)
    let killedAt = Date()
    let status = launch.wait(timeout: 30)
    let elapsed = Date().timeIntervalSince(killedAt)
    #expect(status != nil && status != 0, "launch should fail after a \(what) dies")
    #expect(elapsed < 10, "took \(elapsed) s to notice a dead \(what) with a 2 s deadline")
    let out = launch.output
    #expect(out.contains("rank") && out.contains("127.0.0.1"), "the error must name the rank and host: \(out)")
    usleep(500_000)
    for pid in workers { #expect(kill(pid, 0) != 0, "worker \(pid) outlived the job") }
}

/// Child processes of `pid` (from /proc).
func childPids(of pid: Int32) -> [Int32] {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
    return text.split(separator: " ").compactMap { Int32($0) }
}
