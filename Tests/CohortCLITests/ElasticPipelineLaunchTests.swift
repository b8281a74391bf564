import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 14, item 4, end to end: a 3 × 2 DP × PP grid of 6 local worker processes over ZeroMQ under `elastic:`.
/// SIGKILLing one stage drops its replica; the other two replicas finish the job in memory, with no checkpoint
/// configured and no restart, and their weights agree.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ElasticPipelineLaunchTests {
    static let steps = 60000

    static func yaml(dir: URL, restarts: Int = 0) -> String {
        """
        cluster:
          coordinator: {host: 127.0.0.1, port: 5555}
          interface: 127.0.0.1
        hosts:
          - {address: 127.0.0.1, workers: 6}
        job:
          model: {layers: [16, 24, 24, 4], activation: relu, init: he_normal}
          optimizer: {name: momentum, lr: 0.05, momentum: 0.9}
          data: {dataset: synthetic, max_train_examples: 512, max_test_examples: 128}
          batch_size: 36
          steps: \(steps)
          seed: 7
        parallelism: {data_parallel: 3, pipeline_stages: 2, micro_batches: 3}
        timeouts: {heartbeat_interval_s: 0.2, peer_deadline_s: 3, rendezvous_timeout_s: 20}
        output: {metrics_file: \(dir.path)/metrics.jsonl}
        elastic: {min_workers: 2, restart: {max_restarts: \(restarts), backoff_s: 0.2}}
        """
    }

    /// Local index 0 is replica 0's first stage (rank 0, which also reports first); 3 is replica 1's last stage.
    @Test(arguments: [0, 3])
    func aKilledStageDropsItsReplicaAndTheGridGoesOn(victimIndex: Int) throws {
        let binary = try requireCohortBinary()
        let dir = try scratchDirectory("elastic-pipeline-\(victimIndex)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try Self.yaml(dir: dir).write(toFile: config, atomically: true, encoding: .utf8)
        let (launch, workers) = try ElasticLaunchTests.startLaunch(
            binary, config, workers: 6, marker: "epoch 40:", poll: 10_000)
        guard let victim = workers.first(where: { localIndex(of: $0) == victimIndex }) else {
            launch.kill()
            throw TestFailure("no worker with --local-index \(victimIndex): \(launch.output)")
        }
        kill(victim, SIGKILL)
        let output = ElasticLaunchTests.wait(launch, seconds: 150)
        #expect(launch.process.terminationStatus == 0, "\(output)")
        let rank = victimIndex
        let line = output.split(separator: "\n").first { $0.hasPrefix("workers 6→4 at step ") }
        #expect(
            line?.contains(
                "rank \(rank) on 127.0.0.1 (pid \(victim)) was lost (exited with status 9; its replica's other stages left); resharded"
            ) == true, "\(output)")
        // The replica's other stage leaves with status 0, saying why; nothing is restarted or read back.
        let mate = rank ^ 1
        #expect(
            output.contains("left the job: its replica \(rank / 2) was dropped: its stage \(rank % 2), rank \(rank)"), "\(output)"
        )
        #expect(!output.contains("worker rank \(mate) on 127.0.0.1 exited with status"), "\(output)")
        #expect(!output.contains("pipeline job failed"), "\(output)")
        #expect(output.contains("done: 4 workers, \(Self.steps) steps"), "\(output)")
        #expect(output.contains("weights: identical on all workers"), "\(output)")
        // Every survivor reported its recovery: the agreed step, redone from the same one on all four.
        let recoveries = output.split(separator: "\n").filter {
            $0.contains("elastic: rank ") && $0.contains(" of 4 in membership ")
        }
        #expect(recoveries.count == 4, "\(output)")
        let metrics = (try? String(contentsOfFile: "\(dir.path)/metrics.jsonl", encoding: .utf8)) ?? ""
        #expect(metrics.split(separator: "\n").filter { $0.contains("\"event\":\"recovery\"") }.count == 4)
    }

    /// Under `elastic.restart`, `launch` starts the dead stage again and the stage its replica dismissed (status 4):
    /// the two register, wait for each other and rejoin as a replica, which takes the members' state.
    @Test func theDroppedReplicaRejoins() throws {
        let binary = try requireCohortBinary()
        let dir = try scratchDirectory("elastic-pipeline-rejoin")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try Self.yaml(dir: dir, restarts: 2).write(toFile: config, atomically: true, encoding: .utf8)
        let (launch, workers) = try ElasticLaunchTests.startLaunch(
            binary, config, workers: 6, marker: "epoch 40:", poll: 10_000)
        guard let victim = workers.first(where: { localIndex(of: $0) == 3 }) else {
            launch.kill()
            throw TestFailure("no worker with --local-index 3: \(launch.output)")
        }
        kill(victim, SIGKILL)
        let output = ElasticLaunchTests.wait(launch, seconds: 150)
        #expect(launch.process.terminationStatus == 0, "\(output)")
        #expect(output.contains("workers 6→4 at step "), "\(output)")
        #expect(output.contains("worker rank 2 on 127.0.0.1 left the job: its replica was dropped"), "\(output)")
        #expect(output.contains("restarting worker rank 3 on 127.0.0.1 in 0.2 s (restart 1 of 2)"), "\(output)")
        #expect(output.contains("restarting worker rank 2 on 127.0.0.1 in 0.2 s (restart 2 of 2)"), "\(output)")
        let joined = output.split(separator: "\n").filter { $0.hasPrefix("workers 4→6 at step ") && $0.hasSuffix(" joined") }
        #expect(joined.count == 2 && joined[0].contains(": rank 4 on ") && joined[1].contains(": rank 5 on "), "\(output)")
        #expect(output.contains("done: 6 workers, \(Self.steps) steps"), "\(output)")
        #expect(output.contains("weights: identical on all workers"), "\(output)")
    }
}
