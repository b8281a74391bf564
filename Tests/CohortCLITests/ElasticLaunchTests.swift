import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Elastic training end to end: `cohort launch` of 3 local worker processes under `elastic:`, one SIGKILLed while
/// training; the survivors form the next membership, reshard the global batch and finish with identical weights.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ElasticLaunchTests {
    struct Kill: Sendable, CustomTestStringConvertible {
        var victim: Int  // index among the workers in start order (= rank order)
        var sharedMemory: Bool
        var testDescription: String { "kill worker \(victim), \(sharedMemory ? "shm" : "tcp")" }
    }

    static let kills: [Kill] = [0, 1, 2].flatMap { v in [false, true].map { Kill(victim: v, sharedMemory: $0) } }

    @Test(arguments: kills) func survivorsFinishAfterASigkill(_ k: Kill) throws {
        let binary = try requireCohortBinary()
        let dir = try scratchDirectory("elastic")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let text = smallClusterYAML(workers: 3, steps: 40000, dir: dir) + "elastic: {min_workers: 2}\n"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let launch = try ChildProcess(
            binary, ["launch", config, "--ephemeral-ports"],
            environment: ["COHORT_SHARED_MEMORY": k.sharedMemory ? "1" : "0"])
        let pid = launch.process.processIdentifier
        var workers: [Int32] = []
        let start = Date()
        while Date().timeIntervalSince(start) < 30 {
            workers = childPids(of: pid).sorted()
            if workers.count == 3 && launch.output.contains("training") { break }
            usleep(20_000)
        }
        try #require(workers.count == 3 && launch.output.contains("training"), "training did not start: \(launch.output)")
        usleep(300_000)
        let victim = workers[k.victim]
        kill(victim, SIGKILL)
        let end = Date().addingTimeInterval(90)
        while launch.process.isRunning && Date() < end { usleep(50_000) }
        let output = launch.output
        if launch.process.isRunning { launch.kill() }
        #expect(launch.process.terminationStatus == 0, "\(output)")
        let line = output.components(separatedBy: "\n").first { $0.contains("workers 3→2 at step") }
        #expect(line?.contains("(pid \(victim)) was lost") == true, "\(output)")
        #expect(output.contains("done: 2 workers, 40000 steps"), "\(output)")
        #expect(output.contains("weights: identical on all workers"), "\(output)")
        let metrics = try String(contentsOfFile: dir.appendingPathComponent("metrics.jsonl").path, encoding: .utf8)
        #expect(metrics.contains("\"event\":\"membership\""), "\(metrics)")
        for w in workers where w != victim { #expect(!isAlive(w), "worker \(w) outlived the launch") }
    }
}
