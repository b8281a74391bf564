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

    @Test(arguments: kills) func survivorsFinishAfterASigkill(_ k: Kill) async throws {
        let binary = try requireCohortBinary()
        let dir = try scratchDirectory("elastic")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let text =
            smallClusterYAML(workers: 3, steps: 40000, dir: dir) + "elastic: {min_workers: 2, restart: {max_restarts: 0}}\n"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let launch = try ChildProcess(
            binary, ["launch", config, "--ephemeral-ports"],
            environment: ["COHORT_SHARED_MEMORY": k.sharedMemory ? "1" : "0"])
        let pid = launch.process.processIdentifier
        // Start, kill and wait on one thread of its own: the kill must come while the job still trains, not
        // whenever a suspended test gets a worker thread back.
        let (workers, killed): ([Int32], Int32?) = try await onOwnThread {
            var workers: [Int32] = []
            let start = Date()
            while Date().timeIntervalSince(start) < 30 {
                workers = childPids(of: pid).sorted()
                if workers.count == 3 && launch.output.contains("training") { break }
                usleep(20_000)
            }
            guard workers.count == 3 && launch.output.contains("training") else { return (workers, nil) }
            usleep(300_000)
            let victim = workers[k.victim]
            kill(victim, SIGKILL)
            let end = Date().addingTimeInterval(90)
            while launch.process.isRunning && Date() < end { usleep(50_000) }
            return (workers, victim)
        }
        let victim = try #require(killed, "training did not start: \(launch.output)")
        let output = launch.output
        if launch.process.isRunning { launch.kill() }
        #expect(launch.process.terminationStatus == 0, "\(output)")
        let line = output.components(separatedBy: "\n").first { $0.contains("workers 3→2 at step") }
        #expect(line?.contains("(pid \(victim)) was lost") == true, "\(output)")
        #expect(output.contains("done: 2 workers, 40000 steps"), "\(output)")
        #expect(output.contains("weights: identical on all workers"), "\(output)")
        // max_restarts 0: the restart policy is exhausted at once and the job goes on shrunk.
        #expect(output.contains("not restarted: elastic.restart.max_restarts 0 used"), "\(output)")
        let metrics = try String(contentsOfFile: dir.appendingPathComponent("metrics.jsonl").path, encoding: .utf8)
        #expect(metrics.contains("\"event\":\"membership\""), "\(metrics)")
        for w in workers where w != victim { #expect(!isAlive(w), "worker \(w) outlived the launch") }
    }

    /// Starts `cohort launch` of `workers` elastic workers and returns it with the workers' pids once training runs.
    static func launchElastic(
        workers: Int, elastic: String, timeouts: String? = nil, steps: Int = 40000, dir: URL
    ) throws -> (ChildProcess, [Int32]) {
        let binary = try requireCohortBinary()
        let config = dir.appendingPathComponent("cluster.yaml").path
        var text = smallClusterYAML(workers: workers, steps: steps, dir: dir) + "elastic: \(elastic)\n"
        if let timeouts {
            text = text.replacingOccurrences(
                of: "timeouts: {heartbeat_interval_s: 0.2, peer_deadline_s: 15, rendezvous_timeout_s: 20}", with: timeouts)
        }
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let (launch, pids) = try startLaunch(binary, config, workers: workers)
        usleep(300_000)
        return (launch, pids)
    }

    /// Starts `cohort launch CONFIG --ephemeral-ports` and waits (30 s at most) until `workers` worker processes
    /// run and its output contains `marker`; returns it with their pids, sorted. Otherwise kills it and throws.
    static func startLaunch(
        _ binary: URL, _ config: String, workers: Int, marker: String = "training", poll: useconds_t = 20_000
    ) throws -> (ChildProcess, [Int32]) {
        let launch = try ChildProcess(binary, ["launch", config, "--ephemeral-ports"])
        var pids: [Int32] = []
        let start = Date()
        while Date().timeIntervalSince(start) < 30 {
            pids = childPids(of: launch.process.processIdentifier).sorted()
            if pids.count == workers && launch.output.contains(marker) { break }
            usleep(poll)
        }
        guard pids.count == workers && launch.output.contains(marker) else {
            launch.kill()
            throw TestFailure("no \"\(marker)\" from \(workers) workers: \(launch.output)")
        }
        return (launch, pids)
    }

    static func wait(_ launch: ChildProcess, seconds: Double) -> String {
        let end = Date().addingTimeInterval(seconds)
        while launch.process.isRunning && Date() < end { usleep(50_000) }
        let output = launch.output
        if launch.process.isRunning { launch.kill() }
        return output
    }

    /// A hung worker (SIGSTOP) sends no heartbeat and no exit: the coordinator's deadline finds it, the survivors'
    /// blocked all-reduce is aborted by the new membership, and they finish.
    @Test func aStoppedWorkerIsDroppedAtThePeerDeadline() throws {
        let dir = try scratchDirectory("elastic-stop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, pids) = try Self.launchElastic(
            workers: 3, elastic: "{min_workers: 2, restart: {max_restarts: 0}}",
            timeouts: "timeouts: {heartbeat_interval_s: 0.2, peer_deadline_s: 1.5, rendezvous_timeout_s: 20}", dir: dir)
        kill(pids[1], SIGSTOP)
        let stopped = Date()
        defer { kill(pids[1], SIGKILL) }
        let output = Self.wait(launch, seconds: 90)
        #expect(launch.process.terminationStatus == 0, "\(output)")
        let line = output.components(separatedBy: "\n").first { $0.contains("workers 3→2 at step") }
        #expect(line?.contains("(pid \(pids[1])) was lost (no heartbeat for") == true, "\(output)")
        #expect(output.contains("done: 2 workers, 40000 steps"), "\(output)")
        #expect(output.contains("weights: identical on all workers"), "\(output)")
        #expect(Date().timeIntervalSince(stopped) < 80)
    }

    /// Below `min_workers` the job stops with one line naming the change and the lost worker.
    @Test func belowMinWorkersTheJobStops() throws {
        let dir = try scratchDirectory("elastic-min")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, pids) = try Self.launchElastic(workers: 2, elastic: "{min_workers: 2}", dir: dir)
        kill(pids[1], SIGKILL)
        let output = Self.wait(launch, seconds: 30)
        #expect(launch.process.terminationStatus != 0, "\(output)")
        #expect(output.contains("workers 2→1 at step"), "\(output)")
        #expect(output.contains("below elastic.min_workers 2"), "\(output)")
        #expect(!isAlive(pids[0]), "the survivor must be stopped")
    }

    /// `elastic.restart`: the SIGKILLed worker is restarted by `launch`, registers with the running coordinator
    /// and joins as a new membership; the replicas copy it their state and all three finish with identical weights.
    @Test func aKilledWorkerIsRestartedAndRejoins() throws {
        let dir = try scratchDirectory("elastic-rejoin")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, pids) = try Self.launchElastic(
            workers: 3, elastic: "{min_workers: 2, restart: {max_restarts: 1, backoff_s: 0.2}}", dir: dir)
        kill(pids[1], SIGKILL)
        let output = Self.wait(launch, seconds: 120)
        #expect(launch.process.terminationStatus == 0, "\(output)")
        #expect(output.contains("workers 3→2 at step"), "\(output)")
        #expect(output.contains("restarting worker rank 1 on 127.0.0.1"), "\(output)")
        let joined = output.components(separatedBy: "\n").first { $0.contains("workers 2→3 at step") }
        #expect(joined?.contains("rank 1 on 127.0.0.1") == true && joined?.hasSuffix("joined") == true, "\(output)")
        #expect(output.contains("done: 3 workers, 40000 steps"), "\(output)")
        #expect(output.contains("weights: identical on all workers"), "\(output)")
        let metrics = try String(contentsOfFile: dir.appendingPathComponent("metrics.jsonl").path, encoding: .utf8)
        #expect(metrics.contains("\"joined\":true"), "\(metrics)")
    }

    /// The job token `launch` put in a worker's environment (nil when it cannot be read).
    static func jobToken(ofWorker pid: Int32) -> String? {
        let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data()
        return environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            .first { $0.hasPrefix("COHORT_JOB_TOKEN=") }.map { String($0.dropFirst(17)) }
    }

    /// Starts `cohort worker` against the running launch's coordinator with `token`; waits for it to end by itself.
    static func joiner(_ launch: ChildProcess, token: String, environment: [String: String] = [:]) throws -> ChildProcess {
        let binary = try requireCohortBinary()
        let listening = launch.output.components(separatedBy: "\n").first { $0.contains("listening on ") }
        let endpoint = try #require(
            listening?.components(separatedBy: "listening on ").last?.components(separatedBy: ",").first, "\(launch.output)")
        return try ChildProcess(
            binary,
            [
                "worker", "--coordinator", endpoint, "--host", "127.0.0.1", "--data-port", "0", "--interface", "127.0.0.1",
                "--rendezvous-timeout", "5",
            ],
            environment: environment.merging(["COHORT_JOB_TOKEN": token]) { $1 })
    }

    /// A worker that tries to join a running elastic job with the wrong token is refused at the handshake: the
    /// job goes on with its members, and the impostor never becomes one (it gives up at its rendezvous timeout).
    @Test func aJoinerWithTheWrongTokenIsRefused() throws {
        let dir = try scratchDirectory("elastic-token")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, _) = try Self.launchElastic(workers: 2, elastic: "{min_workers: 1, max_workers: 3}", dir: dir)
        defer { if launch.process.isRunning { launch.kill() } }
        let joiner = try Self.joiner(launch, token: String(repeating: "ab", count: 32))
        let end = Date().addingTimeInterval(30)
        while joiner.process.isRunning && Date() < end { usleep(50_000) }
        let ended = !joiner.process.isRunning
        if !ended { joiner.kill() }
        let output = Self.wait(launch, seconds: 90)
        #expect(ended && joiner.process.terminationStatus != 0, "\(joiner.output)")
        #expect(output.contains("refused a connection from"), "\(output)")
        #expect(!output.contains("workers 2→3"), "\(output)")
        #expect(output.contains("done: 2 workers, 40000 steps"), "\(output)")
    }

    /// A job down to one worker has no collective for a new membership to abort: the lone worker must still see
    /// it at its next step and admit the joiner (it used to train on alone while the joiner waited for it until
    /// `elastic.join_timeout_s`).
    @Test func aLoneWorkerAdmitsAJoiner() throws {
        let dir = try scratchDirectory("elastic-lone")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, pids) = try Self.launchElastic(
            workers: 1, elastic: "{min_workers: 1, max_workers: 2, join_timeout_s: 20}", steps: 150_000, dir: dir)
        defer { if launch.process.isRunning { launch.kill() } }
        let token = ElasticLaunchTests.jobToken(ofWorker: pids[0])
        let joiner = try Self.joiner(launch, token: try #require(token, "worker \(pids[0]) has no token"))
        defer { if joiner.process.isRunning { joiner.kill() } }
        let output = Self.wait(launch, seconds: 100)
        #expect(launch.process.terminationStatus == 0, "\(output)")
        let joined = output.components(separatedBy: "\n").first { $0.contains("workers 1→2 at step") }
        #expect(joined?.contains("(pid \(joiner.process.processIdentifier)) joined") == true, "\(output)")
        #expect(!output.contains("join_timeout_s"), "\(output)")
        #expect(output.contains("done: 2 workers, 150000 steps"), "\(output)")
        #expect(output.contains("weights: identical on all workers"), "\(output)")
    }

    /// `cohort worker --coordinator` with the job's token, against a running elastic job below `max_workers`,
    /// joins it: the job finishes with one more replica, all with identical weights.
    @Test func aNewWorkerJoinsARunningJob() throws {
        let dir = try scratchDirectory("elastic-join")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, pids) = try Self.launchElastic(workers: 2, elastic: "{min_workers: 1, max_workers: 3}", dir: dir)
        defer { if launch.process.isRunning { launch.kill() } }
        let token = ElasticLaunchTests.jobToken(ofWorker: pids[0])
        let joiner = try Self.joiner(launch, token: try #require(token, "worker \(pids[0]) has no token"))
        let output = Self.wait(launch, seconds: 90)
        let end = Date().addingTimeInterval(10)
        while joiner.process.isRunning && Date() < end { usleep(50_000) }
        if joiner.process.isRunning { joiner.kill() }
        #expect(launch.process.terminationStatus == 0, "\(output)")
        let joined = output.components(separatedBy: "\n").first { $0.contains("workers 2→3 at step") }
        #expect(joined?.contains("rank 2 on 127.0.0.1 (pid \(joiner.process.processIdentifier)) joined") == true, "\(output)")
        #expect(output.contains("done: 3 workers, 40000 steps"), "\(output)")
        #expect(output.contains("weights: identical on all workers"), "\(output)")
        #expect(joiner.process.terminationStatus == 0, "\(joiner.output)")
    }
}
