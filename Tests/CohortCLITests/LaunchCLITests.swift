import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `cohort launch`, `cohort worker` and `cohort keys` as a user runs them: real processes over tcp://127.0.0.1
/// with OS-chosen ports (--ephemeral-ports), small synthetic jobs.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct LaunchCLITests {
    @Test func missingClusterFileIsOneLineError() throws {
        let r = try cohort(["launch", "/nonexistent/cluster.yaml", "--ephemeral-ports"], timeout: 20)
        #expect(r.status != 0 && r.status < 128, "exit \(r.status)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains("/nonexistent/cluster.yaml"), "\(r.stderr)")
        #expect(r.seconds < 10)
    }

    @Test func workerWithNobodyAtTheCoordinatorGivesUpInTime() throws {
        let endpoint = "tcp://127.0.0.1:1"
        let r = try cohort(
            ["worker", "--coordinator", endpoint, "--rendezvous-timeout", "1.5"], timeout: 20,
            environment: ["COHORT_JOB_TOKEN": testJobToken])
        #expect(r.status != 0 && r.status < 128, "exit \(r.status)")
        #expect(r.stderr.contains(endpoint), "the error must name the coordinator: \(r.stderr)")
        #expect(r.stderrLines.count == 1, "\(r.stderr)")
        // The rendezvous timeout plus process start: no 120 s default, no waiting on the socket's linger.
        #expect(r.seconds >= 1.4 && r.seconds < 3, "took \(r.seconds) s with a 1.5 s rendezvous timeout")
    }

    @Test func twoWorkerLaunchPrintsDoneLineWithIdenticalWeights() throws {
        let dir = try scratchDirectory("launch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try smallClusterYAML(workers: 2, steps: 30, dir: dir).write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cohort(["launch", config, "--json", "--ephemeral-ports"], timeout: 45)
        #expect(r.status == 0, "\(r.stderr)")
        let done = try #require(lastJSONObject(r.stdout), "no JSON: \(r.stdout) \(r.stderr)")
        #expect(done["event"] as? String == "done")
        #expect(done["workers"] as? Int == 2)
        #expect(done["steps"] as? Int == 30)
        let sums = try #require(done["weight_checksums"] as? [String])
        #expect(sums.count == 2 && Set(sums).count == 1, "weights differ: \(sums)")
    }

    /// Ctrl-C on `cohort launch` mid-training: it exits non-zero within a few seconds and no worker outlives it.
    @Test func interruptStopsEveryWorker() throws {
        let dir = try scratchDirectory("sigint")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, workers) = try launchTwoTrainingWorkers(dir: dir)
        defer { launch.kill() }
        let pid = launch.process.processIdentifier
        usleep(500_000)
        #expect(workers.allSatisfy(isAlive), "a worker died before the signal: \(launch.output)")
        kill(pid, SIGINT)
        let signalled = Date()
        let status = launch.wait(timeout: 15)
        let elapsed = Date().timeIntervalSince(signalled)
        #expect(status != nil && status != 0, "launch exit status after SIGINT: \(String(describing: status))")
        #expect(elapsed < 5, "took \(elapsed) s to stop after SIGINT")
        #expect(launch.output.contains("interrupted"), "\(launch.output)")
        let orphans = workers.filter(isAlive)
        for w in orphans { kill(w, SIGKILL) }
        #expect(orphans.isEmpty, "workers \(orphans) outlived the launch")
    }

    /// `cohort launch` killed with SIGKILL (no chance to stop anyone): its local workers end with it, within a
    /// second, instead of training on for a peer deadline while holding the ports a new launch needs.
    @Test func workersEndWithAKilledLauncher() throws {
        let dir = try scratchDirectory("sigkill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, workers) = try launchTwoTrainingWorkers(dir: dir)
        defer { launch.kill() }
        let pid = launch.process.processIdentifier
        kill(pid, SIGKILL)
        let killed = Date()
        while workers.contains(where: isAlive) && Date().timeIntervalSince(killed) < 5 { usleep(20_000) }
        let elapsed = Date().timeIntervalSince(killed)
        let orphans = workers.filter(isAlive)
        for w in orphans { kill(w, SIGKILL) }
        #expect(
            orphans.isEmpty && elapsed < 1, "workers \(orphans) outlived the killed launcher (\(elapsed) s; peer deadline 15 s)")
    }

    /// The job's token reaches the workers `launch` starts in their environment (readable by this user only),
    /// not in their command lines, which every user sees in `ps`.
    @Test func theJobTokenIsInTheWorkersEnvironmentNotTheirCommandLine() throws {
        let dir = try scratchDirectory("token")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (launch, workers) = try launchTwoTrainingWorkers(dir: dir)
        defer { launch.kill() }
        func nulSeparated(_ path: String) -> [String] {
            guard let data = FileManager.default.contents(atPath: path) else { return [] }
            return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        }
        var tokens: [String] = []
        for pid in workers {
            let environment = nulSeparated("/proc/\(pid)/environ")
            let token = environment.first { $0.hasPrefix("COHORT_JOB_TOKEN=") }.map { String($0.dropFirst(17)) }
            let value = try #require(token, "worker \(pid) has no COHORT_JOB_TOKEN")
            #expect(value.count == 64 && value.allSatisfy(\.isHexDigit), "\(value.count) characters")
            let arguments = nulSeparated("/proc/\(pid)/cmdline")
            #expect(arguments.contains("worker"), "\(arguments)")
            #expect(!arguments.contains { $0.contains(value) }, "the token is on worker \(pid)'s command line")
            tokens.append(value)
        }
        #expect(Set(tokens).count == 1, "one token per job")
        let launchArguments = nulSeparated("/proc/\(launch.process.processIdentifier)/cmdline")
        #expect(!launchArguments.contains { a in tokens.contains { a.contains($0) } })
        #expect(!launch.output.contains(tokens.first ?? "-"), "the token must not be printed")
    }

    /// A coordinator started by hand with neither curve nor a token is still secure: it generates a token, writes
    /// it to a 0600 file in its directory and says where (the workers' --token-file).
    @Test func aHandStartedCoordinatorWithoutATokenWritesOne() throws {
        let dir = try scratchDirectory("coord-token")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        try smallClusterYAML(workers: 1, steps: 5, dir: dir)
            .replacingOccurrences(of: "rendezvous_timeout_s: 20", with: "rendezvous_timeout_s: 1")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try ProcessRunner.run(
            requireCohortBinary().path, ["coordinator", "--config", config, "--ephemeral-ports"], timeout: 20,
            currentDirectory: dir.path)
        let file = dir.appendingPathComponent("cohort-job-token").path
        #expect(r.stderr.contains("job token is in \(file)"), "\(r.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
        #expect(!r.stderr.contains(token) && !r.stdout.contains(token), "the token itself is never printed")
    }

    /// `cohort keys` writes the cluster's key file; a launch with CURVE on trains with it.
    @Test func curveSecuredLaunchTrains() throws {
        let dir = try scratchDirectory("curve")
        defer { try? FileManager.default.removeItem(at: dir) }
        let keyFile = dir.appendingPathComponent("cluster.keys").path
        let keys = try cohort(["keys", "--output", keyFile])
        #expect(keys.status == 0, "\(keys.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        #expect(mode == 0o600, "key file mode \(String(describing: mode))")
        #expect(keys.stdout.contains("curve_secret_key"))
        let config = dir.appendingPathComponent("cluster.yaml").path
        try smallClusterYAML(workers: 2, steps: 20, security: "{curve: true, key_file: \(keyFile)}", dir: dir)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cohort(["launch", config, "--json", "--ephemeral-ports"], timeout: 45)
        #expect(r.status == 0, "\(r.stderr)")
        let done = try #require(lastJSONObject(r.stdout), "no JSON: \(r.stdout) \(r.stderr)")
        #expect(done["event"] as? String == "done")
        let sums = try #require(done["weight_checksums"] as? [String])
        #expect(sums.count == 2 && Set(sums).count == 1, "weights differ: \(sums)")
    }

    /// A worker holding a different key than the cluster's cannot join: it gives up at its rendezvous timeout
    /// (CURVE drops the handshake, so nothing reaches the coordinator) with an error naming the coordinator.
    @Test func workerWithTheWrongKeyCannotJoin() throws {
        let binary = try requireCohortBinary()
        let dir = try scratchDirectory("curve-wrong")
        defer { try? FileManager.default.removeItem(at: dir) }
        let right = dir.appendingPathComponent("right.keys").path
        let wrong = dir.appendingPathComponent("wrong.keys").path
        #expect(try cohort(["keys", "--output", right]).status == 0)
        #expect(try cohort(["keys", "--output", wrong]).status == 0)
        let config = dir.appendingPathComponent("cluster.yaml").path
        try smallClusterYAML(workers: 1, steps: 5, security: "{curve: true, key_file: \(right)}", dir: dir)
            .replacingOccurrences(of: "rendezvous_timeout_s: 20", with: "rendezvous_timeout_s: 4")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let coordinator = try ChildProcess(binary, ["coordinator", "--config", config, "--ephemeral-ports"])
        defer { coordinator.kill() }
        var endpoint: String?
        let start = Date()
        while endpoint == nil && Date().timeIntervalSince(start) < 10 {
            if let range = coordinator.output.range(of: #"tcp://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                endpoint = String(coordinator.output[range])
            }
            usleep(20_000)
        }
        let coord = try #require(endpoint, "the coordinator did not say where it listens: \(coordinator.output)")
        let r = try cohort(["worker", "--coordinator", coord, "--key-file", wrong, "--rendezvous-timeout", "1.5"], timeout: 20)
        #expect(r.status != 0 && r.status < 128)
        #expect(r.stderr.contains(coord), "\(r.stderr)")
        let coordinatorStatus = coordinator.wait(timeout: 15)
        #expect(coordinatorStatus != nil && coordinatorStatus != 0, "the coordinator must fail its rendezvous")
        #expect(coordinator.output.contains("0 of 1 workers registered"), "\(coordinator.output)")
    }

    /// A worker that cannot start (its data port is taken) ends the launch at once, naming the rank and host,
    /// instead of the coordinator waiting out the whole rendezvous timeout (20 s here) for it.
    @Test func workerThatCannotStartEndsTheRendezvousAtOnce() throws {
        let dir = try scratchDirectory("port-taken")
        defer { try? FileManager.default.removeItem(at: dir) }
        let taken = try TCPPortHolder()
        let free = try TCPPortHolder()
        let coordinatorPort = free.port
        free.close()
        let config = dir.appendingPathComponent("cluster.yaml").path
        try smallClusterYAML(workers: 1, steps: 5, dir: dir)
            .replacingOccurrences(of: "port: 5555", with: "port: \(coordinatorPort)")
            .replacingOccurrences(of: "data_ports: 5600", with: "data_ports: \(taken.port)")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cohort(["launch", config], timeout: 30)
        taken.close()
        #expect(r.status != 0 && r.status < 128, "exit \(r.status): \(r.stderr)")
        #expect(r.stderr.contains("worker rank 0 on 127.0.0.1 exited with status"), "\(r.stderr)")
        #expect(r.stderr.contains("Address already in use"), "the worker's own error must show: \(r.stderr)")
        #expect(r.seconds < 8, "took \(r.seconds) s: the rendezvous waited for a worker that had exited")
    }
}

/// `cohort launch` of a 2-worker job that trains (practically) forever, once both workers run and training began.
func launchTwoTrainingWorkers(dir: URL) throws -> (ChildProcess, [Int32]) {
    let binary = try requireCohortBinary()
    let config = dir.appendingPathComponent("cluster.yaml").path
    try smallClusterYAML(workers: 2, steps: 10_000_000, dir: dir).write(toFile: config, atomically: true, encoding: .utf8)
    let launch = try ChildProcess(binary, ["launch", config, "--ephemeral-ports"])
    let pid = launch.process.processIdentifier
    var workers: [Int32] = []
    let start = Date()
    while Date().timeIntervalSince(start) < 30 {
        workers = childPids(of: pid)
        if workers.count == 2 && launch.output.contains("training") { break }
        usleep(50_000)
    }
    guard workers.count == 2 && launch.output.contains("training") else {
        launch.kill()
        throw TestFailure("training did not start: \(launch.output)")
    }
    return (launch, workers)
}

/// A listening TCP socket on 127.0.0.1 with an OS-chosen port, held until `close`.
final class TCPPortHolder {
    private var fd: Int32
    let port: Int
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 1) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard fd >= 0, ok else { throw CocoaError(.fileWriteUnknown) }
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }
    func close() {
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
    }
    deinit { close() }
}
