import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 14, item 4: a dead pipeline stage cannot be rebuilt from its peers, so under `elastic.restart` `launch`
/// restarts the whole job from the newest checkpoint every stage holds. A 2-stage pipeline (2 local worker
/// processes over ZeroMQ) with a checkpoint every 500 steps; the stage-1 worker is SIGKILLed mid-run.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct PipelineRestartTests {
    static let steps = 10000

    static func yaml(dir: URL, elastic: String?) -> String {
        let elasticLine = elastic.map { "elastic: \($0)\n" } ?? ""
        return """
            cluster:
              coordinator: {host: 127.0.0.1, port: 5555}
              interface: 127.0.0.1
            hosts:
              - {address: 127.0.0.1, workers: 2}
            job:
              model: {layers: [16, 24, 24, 4], activation: relu, init: he_normal}
              optimizer: {name: momentum, lr: 0.05, momentum: 0.9}
              data: {dataset: synthetic, max_train_examples: 512, max_test_examples: 128}
              batch_size: 32
              steps: \(steps)
              seed: 7
            parallelism: {data_parallel: 1, pipeline_stages: 2, micro_batches: 4}
            timeouts: {heartbeat_interval_s: 0.2, peer_deadline_s: 3, rendezvous_timeout_s: 20}
            output: {metrics_file: \(dir.path)/metrics.jsonl}
            checkpoint: {directory: \(dir.path)/ckpt, every_steps: 500, keep: 3}
            \(elasticLine)
            """
    }

    /// Starts `launch` and SIGKILLs the stage-1 worker once the step-1000 checkpoint is written; returns the launch's
    /// output when it ends (at most `seconds`) and the killed pid.
    static func killStageOne(_ config: String, seconds: Double) throws -> (ChildProcess, String, Int32) {
        let binary = try requireCohortBinary()
        let (launch, workers) = try ElasticLaunchTests.startLaunch(
            binary, config, workers: 2, marker: "checkpoint at step 1000:", poll: 10_000)
        guard let victim = workers.first(where: { localIndex(of: $0) == 1 }) else {
            launch.kill()
            throw TestFailure("no worker with --local-index 1: \(launch.output)")
        }
        kill(victim, SIGKILL)
        return (launch, ElasticLaunchTests.wait(launch, seconds: seconds), victim)
    }

    @Test func aKilledStageRestartsThePipelineFromTheAgreedCheckpoint() throws {
        let binary = try requireCohortBinary()
        let dir = try scratchDirectory("pipeline-restart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try Self.yaml(dir: dir, elastic: "{restart: {max_restarts: 2, backoff_s: 0.2}}")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let (launch, output, _) = try Self.killStageOne(config, seconds: 120)
        #expect(launch.process.terminationStatus == 0, "\(output)")
        let line = output.split(separator: "\n").first { $0.hasPrefix("pipeline job failed: ") }
        #expect(line?.contains("rank") == true, "\(output)")
        #expect(
            line?.contains("restarting all 2 workers from the newest checkpoint every stage holds in 0.2 s (restart 1 of 2)")
                == true, "\(output)")
        #expect(output.contains("done: 2 workers, \(Self.steps) steps"), "\(output)")
        // The restarted run began at a checkpoint step (a multiple of 500) that both stages held, not at 0.
        let metrics = dir.appendingPathComponent("metrics.jsonl").path
        let restarted = try #require(firstReportAfterRestart(metrics), "no second run in \(metrics)")
        #expect(restarted > 0 && restarted % 500 == 0 && restarted < Self.steps, "restarted at \(restarted)")
        // Nothing but wall time was lost: the weights equal an uninterrupted run's, bit for bit.
        let reference = dir.appendingPathComponent("reference")
        try FileManager.default.createDirectory(at: reference, withIntermediateDirectories: true)
        let referenceConfig = reference.appendingPathComponent("cluster.yaml").path
        try Self.yaml(dir: reference, elastic: nil).write(toFile: referenceConfig, atomically: true, encoding: .utf8)
        let uninterrupted = try ProcessRunner.run(binary.path, ["launch", referenceConfig, "--ephemeral-ports"], timeout: 90)
        #expect(uninterrupted.status == 0, "\(uninterrupted.stdout)\(uninterrupted.stderr)")
        let weights = { (text: String) in text.split(separator: "\n").first { $0.hasPrefix("weights: ") } }
        #expect(weights(output) != nil && weights(output) == weights(uninterrupted.stdout + uninterrupted.stderr))
    }

    /// With the policy used up (`max_restarts: 0`), today's behaviour: the job stops, non-zero, its checkpoints valid.
    @Test func anExhaustedPolicyStopsTheJob() throws {
        let dir = try scratchDirectory("pipeline-no-restart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try Self.yaml(dir: dir, elastic: "{restart: {max_restarts: 0}}")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let (launch, output, _) = try Self.killStageOne(config, seconds: 60)
        #expect(launch.process.terminationStatus != 0, "\(output)")
        #expect(output.contains("pipeline not restarted: elastic.restart.max_restarts 0 used"), "\(output)")
        #expect(!output.contains("done: "), "\(output)")
        for stage in 0..<2 {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/ckpt/stage-\(stage)")) ?? []
            #expect(files.contains { $0.hasSuffix(".manifest.json") }, "stage \(stage) has no checkpoint: \(files)")
        }
    }

    /// Where the second run began: each rank's report windows follow on from its previous report (the first from
    /// step 0), except the first one after the restart, whose window starts at the step the run resumed from.
    func firstReportAfterRestart(_ path: String) -> Int? {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var last: [Int: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let r = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                r["event"] as? String == "rank", let p = r["rank"] as? [String: Any], let rank = p["rank"] as? Int,
                let step = p["step"] as? Int, let steps = p["steps"] as? Int
            else { continue }
            if step - steps != last[rank, default: 0] { return step - steps }
            last[rank] = step
        }
        return nil
    }
}

/// The `--local-index` a launched worker was given (its rank order on the host).
func localIndex(of pid: Int32) -> Int? {
    let args = (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()).split(separator: 0)
        .map { String(decoding: $0, as: UTF8.self) }
    guard let i = args.firstIndex(of: "--local-index"), i + 1 < args.count else { return nil }
    return Int(args[i + 1])
}
