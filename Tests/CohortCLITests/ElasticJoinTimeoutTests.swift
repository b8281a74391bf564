import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `elastic.join_timeout_s`: a joiner admitted to a running job that takes no step in time (here it waits 4 s
/// before loading its data, `COHORT_DEBUG_JOIN_DELAY_S`) is dropped by the coordinator; the survivors, held at the
/// new membership's first barrier, go on shrunk, and the joiner gives up with the coordinator's reason.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ElasticJoinTimeoutTests {
    @Test func aJoinerWithoutAStepInTimeIsDroppedAndTheJobGoesOn() throws {
        let dir = try scratchDirectory("elastic-join-timeout")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, pids) = try ElasticLaunchTests.launchElastic(
            workers: 2, elastic: "{min_workers: 1, max_workers: 3, join_timeout_s: 1.5}", dir: dir)
        defer { if launch.process.isRunning { launch.kill() } }
        let environ = FileManager.default.contents(atPath: "/proc/\(pids[0])/environ") ?? Data()
        let token = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            .first { $0.hasPrefix("COHORT_JOB_TOKEN=") }.map { String($0.dropFirst(17)) }
        let listening = launch.output.components(separatedBy: "\n").first { $0.contains("listening on ") }
        let endpoint = try #require(
            listening?.components(separatedBy: "listening on ").last?.components(separatedBy: ",").first, "\(launch.output)")
        let joiner = try ChildProcess(
            try requireCohortBinary(),
            [
                "worker", "--coordinator", endpoint, "--host", "127.0.0.1", "--data-port", "0", "--interface", "127.0.0.1",
                "--rendezvous-timeout", "5",
            ],
            environment: ["COHORT_JOB_TOKEN": try #require(token), "COHORT_DEBUG_JOIN_DELAY_S": "4"])
        defer { joiner.kill() }
        let output = ElasticLaunchTests.wait(launch, seconds: 90)
        let status = joiner.wait(timeout: 20)
        #expect(launch.process.terminationStatus == 0, "\(output)")
        let pid = joiner.process.processIdentifier
        #expect(output.contains("workers 2→3 at step"), "\(output)")
        let dropped = output.components(separatedBy: "\n").first { $0.contains("workers 3→2 at step") }
        #expect(
            dropped?.contains("(pid \(pid)) was lost (no step within elastic.join_timeout_s 1.5 s of joining)") == true,
            "\(output)")
        #expect(output.contains("done: 2 workers, 40000 steps"), "\(output)")
        #expect(output.contains("weights: identical on all workers"), "\(output)")
        #expect(status != nil && status != 0, "\(joiner.output)")
        #expect(joiner.output.contains("not admitted: no step within elastic.join_timeout_s 1.5 s"), "\(joiner.output)")
    }
}
