import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 14, item 3: below `elastic.min_workers` the job stops cleanly with a final checkpoint. `cohort launch` of
/// 2 local workers with `min_workers: 2` and restarts left; rank 0 is SIGKILLed while training. The survivor (rank
/// 1, which saves no periodic checkpoint) saves its last completed step, every process exits non-zero with one
/// line naming the lost worker, launch restarts nobody, and `launch --resume` continues from that step to the end.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ElasticMinimumTests {
    static let steps = 60000

    @Test func belowMinWorkersTheSurvivorSavesAndResumeContinues() throws {
        let binary = try requireCohortBinary()
        let dir = try scratchDirectory("elastic-minimum")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let text =
            smallClusterYAML(workers: 2, steps: Self.steps, dir: dir)
            + "elastic: {min_workers: 2, restart: {max_restarts: 3, backoff_s: 0.5}}\n"
            + "checkpoint: {directory: \(dir.path)/ckpt, every_steps: 1000000, keep: 3}\n"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let (launch, workers) = try ElasticLaunchTests.startLaunch(binary, config, workers: 2)
        defer { if launch.process.isRunning { launch.kill() } }
        let victim = try #require(workers.first { localIndex(of: $0) == 0 }, "no worker with --local-index 0")
        let survivor = try #require(workers.first { $0 != victim })
        usleep(300_000)
        kill(victim, SIGKILL)
        let output = ElasticLaunchTests.wait(launch, seconds: 60)
        #expect(launch.process.terminationStatus != 0, "\(output)")
        #expect(!isAlive(survivor), "the survivor must have stopped")
        // The coordinator's line: the change, the lost worker, and where the final checkpoint is.
        let last = try #require(output.split(separator: "\n").last { $0.contains("below elastic.min_workers 2") }, "\(output)")
        #expect(last.contains("workers 2→1 at step"), "\(last)")
        #expect(last.contains("its process (pid \(victim)) exited with status 9"), "\(last)")
        #expect(last.contains("the lowest surviving worker (127.0.0.1, pid \(survivor)) saved step"), "\(last)")
        #expect(last.contains("continue with launch --resume"), "\(last)")
        // The survivor's own line says the same, from its process (its exit was not a death: no restart).
        #expect(output.contains("worker on 127.0.0.1: stopped by the coordinator: workers 2→1"), "\(output)")
        #expect(!output.contains("restarting worker rank 1"), "\(output)")
        let saved = try #require(
            last.range(of: #"saved step [0-9]+"#, options: .regularExpression).flatMap {
                Int(last[$0].dropFirst("saved step ".count))
            }, "\(last)")
        // The last completed step: nothing beyond it was reported, and it is short of the job's end.
        let reported = rankReports(dir.appendingPathComponent("metrics.jsonl").path).map(\.step).max() ?? 0
        #expect(saved >= reported && saved > 0 && saved < Self.steps, "saved \(saved), reported \(reported)")
        let manifest = dir.appendingPathComponent("ckpt/ckpt-\(String(format: "%012d", saved)).manifest.json").path
        #expect(FileManager.default.fileExists(atPath: manifest), "no checkpoint at step \(saved)")

        // `launch --resume` takes it up: the first report after the resume starts at the saved step, and the job
        // ends at the requested step count.
        let metrics = dir.appendingPathComponent("metrics.jsonl").path
        let before = rankReports(metrics).count
        let resumed = try ProcessRunner.run(binary.path, ["launch", config, "--resume", "--ephemeral-ports"], timeout: 90)
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        let first = try #require(rankReports(metrics).dropFirst(before).first, "no report after the resume")
        #expect(first.step - first.steps == saved, "resumed at \(first.step - first.steps), saved \(saved)")
        #expect("\(resumed.stdout)\(resumed.stderr)".contains("done: 2 workers, \(Self.steps) steps"), "\(resumed.stdout)")
    }

    /// Two of 3 workers killed at once with `min_workers: 2`: the first loss shrinks the job to 2, the second ends
    /// it. The one line names both lost workers, and the survivor (rank 1 of the first membership) saves.
    @Test func twoLossesAreBothNamedAndTheLastSurvivorSaves() throws {
        let binary = try requireCohortBinary()
        let dir = try scratchDirectory("elastic-minimum-two")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let text =
            smallClusterYAML(workers: 3, steps: Self.steps, dir: dir)
            + "elastic: {min_workers: 2, restart: {max_restarts: 0}}\n"
            + "checkpoint: {directory: \(dir.path)/ckpt, every_steps: 1000000, keep: 3}\n"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let (launch, workers) = try ElasticLaunchTests.startLaunch(binary, config, workers: 3)
        defer { if launch.process.isRunning { launch.kill() } }
        let survivor = try #require(workers.first { localIndex(of: $0) == 1 }, "no worker with --local-index 1")
        let victims = workers.filter { $0 != survivor }
        usleep(300_000)
        for v in victims { kill(v, SIGKILL) }
        let output = ElasticLaunchTests.wait(launch, seconds: 60)
        #expect(launch.process.terminationStatus != 0, "\(output)")
        #expect(!isAlive(survivor), "the survivor must have stopped")
        let last = try #require(output.split(separator: "\n").last { $0.contains("below elastic.min_workers 2") }, "\(output)")
        #expect(last.contains("workers 2→1 at step"), "\(last)")
        #expect(last.contains("lost during the job: rank "), "\(last)")
        for v in victims { #expect(last.contains("(pid \(v))"), "\(v) not named: \(last)") }
        #expect(last.contains("the lowest surviving worker (127.0.0.1, pid \(survivor)) saved step"), "\(last)")
    }

    /// Every `rank` record's (step, steps in its window), in file order.
    func rankReports(_ path: String) -> [(step: Int, steps: Int)] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let r = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                r["event"] as? String == "rank", let p = r["rank"] as? [String: Any], let step = p["step"] as? Int,
                let steps = p["steps"] as? Int
            else { return nil }
            return (step, steps)
        }
    }
}
