import CohortTestSupport
import Foundation
import Testing

/// A cluster file for a real D × K pipeline on 127.0.0.1 (synthetic data, OS-chosen ports).
func writePipelineClusterFile(
    dataParallel d: Int, stages k: Int, microBatches m: Int, schedule: String,
    steps: Int? = nil, epochs: Int = 2, deadline: Double = 15, stageLayers: String? = nil,
    dir: URL, name: String
) throws -> URL {
    let split = stageLayers.map { ", stage_layers: \($0)" } ?? ""
    let stepsLine = steps.map { "  steps: \($0)\n" } ?? ""
    let yaml = """
        cluster:
          name: pp
          coordinator: {host: 127.0.0.1, port: 5555}
          data_ports: 5600
          interface: 127.0.0.1
        hosts:
          - address: 127.0.0.1
            workers: \(d * k)
        job:
          model: {layers: [32, 48, 32, 10], activation: relu, init: he_normal}
          optimizer: {name: momentum, lr: 0.05, momentum: 0.9}
          data: {dataset: synthetic}
          batch_size: 64
          epochs: \(epochs)
        \(stepsLine)  seed: 3
        parallelism: {pipeline_stages: \(k), micro_batches: \(m), schedule: \(schedule), data_parallel: \(d)\(split)}
        timeouts: {heartbeat_interval_s: 0.2, peer_deadline_s: \(deadline), rendezvous_timeout_s: 30}
        """
    let url = dir.appendingPathComponent(name)
    try yaml.write(to: url, atomically: true, encoding: .utf8)
    return url
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct PipelineProcessTests {
    /// Real worker processes: a 2-stage pipeline (and 2 × 2 DP × PP) reaches the same test accuracy as one
    /// process training the same job, and DP replicas end with identical weights.
    @Test(arguments: [(1, 2, 4, "1f1b", nil), (2, 2, 2, "gpipe", "[2, 1]")])
    func pipelineProcessesMatchOneProcess(d: Int, k: Int, m: Int, schedule: String, stageLayers: String?) async throws {
        let binary = try requireCohortBinary()
        let dir = try temporaryDirectory()
        let pipeline = try writePipelineClusterFile(
            dataParallel: d, stages: k, microBatches: m, schedule: schedule,
            stageLayers: stageLayers, dir: dir, name: "pp.yaml")
        let single = try writePipelineClusterFile(
            dataParallel: 1, stages: 1, microBatches: 1, schedule: "gpipe", dir: dir, name: "one.yaml")
        let (p, o) = try await onOwnThread {
            (
                try ProcessRunner.run(binary.path, ["launch", pipeline.path, "--json", "--ephemeral-ports"], timeout: 120),
                try ProcessRunner.run(binary.path, ["launch", single.path, "--json", "--ephemeral-ports"], timeout: 120)
            )
        }
        #expect(p.status == 0, "pipeline launch failed: \(p.stderr)")
        #expect(o.status == 0, "single launch failed: \(o.stderr)")
        let pd = try #require(lastJSONLine(p.stdout))
        let od = try #require(lastJSONLine(o.stdout))
        #expect(pd["workers"] as? Int == d * k)
        let pa = try #require(pd["test_accuracy"] as? Double)
        let oa = try #require(od["test_accuracy"] as? Double)
        #expect(abs(pa - oa) <= 0.002, "pipeline accuracy \(pa) vs one process \(oa)")
        let sums = try #require(pd["weight_checksums"] as? [String])
        #expect(Set(sums).count == 1, "every stage reports its replica's stage checksums; replicas must agree: \(sums)")
        #expect(sums.first?.split(separator: "/").count == k)
    }

    /// `launch --trace FILE`: one Chrome trace with every stage's forward, backward, send and receive spans.
    @Test func launchWritesAChromeTrace() throws {
        let binary = try requireCohortBinary()
        let dir = try temporaryDirectory()
        let config = try writePipelineClusterFile(
            dataParallel: 1, stages: 2, microBatches: 4, schedule: "1f1b", steps: 3,
            dir: dir, name: "pp.yaml")
        let trace = dir.appendingPathComponent("trace.json").path
        let r = try ProcessRunner.run(
            binary.path, ["launch", config.path, "--json", "--ephemeral-ports", "--trace", trace], timeout: 120)
        #expect(r.status == 0, "launch failed: \(r.stderr)")
        let data = try #require(FileManager.default.contents(atPath: trace), "no trace at \(trace)")
        let o = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try #require(o["traceEvents"] as? [[String: Any]])
        for rank in 0..<2 {
            let cats = Set(events.filter { $0["pid"] as? Int == rank }.compactMap { $0["cat"] as? String })
            #expect(cats.isSuperset(of: ["forward", "backward", "send", "receive"]), "rank \(rank): \(cats)")
            // 3 steps × 4 micro-batches of forwards on each stage.
            #expect(events.filter { $0["pid"] as? Int == rank && $0["cat"] as? String == "forward" }.count == 12)
        }
    }

    /// Killing one stage's process: the job fails within a few deadlines, naming a rank and its host, and no
    /// worker outlives it.
    @Test func killedStageIsNamedAndEveryoneStops() throws {
        let binary = try requireCohortBinary()
        let dir = try temporaryDirectory()
        let config = try writePipelineClusterFile(
            dataParallel: 1, stages: 2, microBatches: 4, schedule: "1f1b",
            steps: 10_000_000, deadline: 2, dir: dir, name: "pp.yaml")
        try killOneWorkerAndExpectCleanFailure(binary: binary, config: config, what: "stage")
    }
}
