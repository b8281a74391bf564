import CohortTestSupport
import Config
import Foundation
import Runtime
import Testing
import Training
import Transport

/// The standby coordinator's takeover rule, with workers played by raw DEALER sockets holding the job's token: it
/// takes over only when every member of a membership reports the coordinator lost, and refuses or drops
/// anything else it is sent while it waits.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct StandbyTakeoverTests {
    static let token = "standby-takeover-test-token-0123456789"

    /// A standby on a thread, bound to an ephemeral port; its warnings, and `runJob`'s outcome once it returns.
    final class RunningStandby: @unchecked Sendable {
        let coordinator: Coordinator
        private let lock = NSLock()
        private var lines: [String] = []
        private var outcome: Result<JobSummary, any Error>?
        private let finished = DispatchSemaphore(value: 0)

        init(deadline: Double, dir: URL) throws {
            let tokenFile = dir.appendingPathComponent("token").path
            try (StandbyTakeoverTests.token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
            chmod(tokenFile, 0o600)
            let yaml = """
                cluster:
                  coordinator: {host: 127.0.0.1, port: 5555, standby: {host: 127.0.0.1, port: 5556}}
                  interface: 127.0.0.1
                  security: {token_file: \(tokenFile)}
                hosts:
                  - {address: 127.0.0.1, workers: 2}
                job:
                  model: {layers: [16, 8, 4]}
                  data: {dataset: synthetic}
                  steps: 10
                parallelism: {data_parallel: 2}
                timeouts: {heartbeat_interval_s: 0.1, peer_deadline_s: \(deadline), rendezvous_timeout_s: 5}
                """
            let config = try ClusterConfig.parse(yaml, file: "cluster.yaml")
            coordinator = try Coordinator(config: config, bind: "tcp://127.0.0.1:0", standby: true)
            coordinator.onEvent = { [self] event in
                if case .warning(let line) = event { lock.withLock { lines.append(line) } }
            }
            Thread { [self] in
                let r = Result { try coordinator.runJob() }
                lock.withLock { outcome = r }
                finished.signal()
            }.start()
        }

        var warnings: [String] { lock.withLock { lines } }

        func wait(timeout: Double) -> Result<JobSummary, any Error>? {
            guard finished.wait(timeout: .now() + timeout) == .success else { return nil }
            return lock.withLock { outcome }
        }
    }

    /// A worker's control socket, as `WorkerControl` opens it after a failover.
    static func worker(_ context: Context, _ standby: RunningStandby) throws -> Socket {
        let s = try Socket(context, type: .dealer, linger: .zero)
        try s.makeTokenClient(try JobToken(token))
        try s.connect(standby.coordinator.endpoint)
        return s
    }

    static func rejoin(rank: Int, of size: Int = 2, epoch: UInt32 = 3, version: Int = ControlMessage.protocolVersion) -> [UInt8] {
        let registration = Registration(
            host: "127.0.0.1", pid: Int32(4000 + rank), cores: 1, protocolVersion: version,
            dataEndpoint: "tcp://127.0.0.1:\(6000 + rank)", localIndex: rank)
        return ControlMessage.rejoin(Rejoin(registration: registration, rank: rank, worldSize: size, membershipEpoch: epoch))
            .encoded()
    }

    /// The next control message on `socket` other than a heartbeat, within `seconds`.
    static func nextMessage(_ socket: Socket, seconds: Double) -> ControlMessage? {
        let deadline = Deadline.after(seconds: seconds)
        while !deadline.hasPassed {
            guard let m = try? socket.receive(deadline: deadline),
                let message = try? m.withBytes({ try ControlMessage.decode($0, from: "the standby") })
            else { continue }
            if case .heartbeat = message { continue }
            return message
        }
        return nil
    }

    /// One of two members reports the coordinator lost: the standby takes nothing over (the other member may still
    /// be supervised by a live coordinator), tells the reporter to save and stop, and ends with one line naming
    /// the ranks that did report.
    @Test func oneOfTwoMembersIsNotEnoughToTakeOver() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let standby = try RunningStandby(deadline: 0.5, dir: dir)
        let context = try Context(ioThreads: 1)
        let rank0 = try Self.worker(context, standby)
        try rank0.send(Self.rejoin(rank: 0), deadline: .after(seconds: 2))
        let reply = Self.nextMessage(rank0, seconds: 5)
        guard case .finalCheckpoint(let reason)? = reply else {
            Issue.record("expected finalCheckpoint, got \(String(describing: reply))")
            return
        }
        #expect(reason.contains("only rank(s) 0 of the 2 workers of membership 3"), "\(reason)")
        let outcome = try #require(standby.wait(timeout: 5), "the standby did not end")
        #expect(throws: (any Error).self) { try outcome.get() }
        #expect(!standby.warnings.contains { $0.contains("took over") }, "\(standby.warnings)")
    }

    /// Junk, another protocol version and a rank outside the membership are dropped or refused; the two members'
    /// rejoins then make the takeover, and a stop after it reaches both.
    @Test func everyMemberReportingMakesTheTakeoverAndStrayMessagesDoNot() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let standby = try RunningStandby(deadline: 5, dir: dir)
        let context = try Context(ioThreads: 1)
        let stray = try Self.worker(context, standby)
        try stray.send(Array("not json".utf8), deadline: .after(seconds: 2))
        try stray.send(ControlMessage.heartbeat(rank: 0).encoded(), deadline: .after(seconds: 2))
        try stray.send(Self.rejoin(rank: 5), deadline: .after(seconds: 2))
        let old = try Self.worker(context, standby)
        try old.send(Self.rejoin(rank: 1, version: ControlMessage.protocolVersion - 1), deadline: .after(seconds: 2))
        guard case .stop(let why)? = Self.nextMessage(old, seconds: 5) else {
            Issue.record("another protocol version was not refused")
            return
        }
        #expect(why.contains("protocol version \(ControlMessage.protocolVersion - 1)"), "\(why)")
        #expect(!standby.warnings.contains { $0.contains("took over") })
        let members = try (0..<2).map { _ in try Self.worker(context, standby) }
        for (rank, s) in members.enumerated() { try s.send(Self.rejoin(rank: rank), deadline: .after(seconds: 2)) }
        let start = Date()
        while !standby.warnings.contains(where: { $0.contains("took over membership 3") }) && Date().timeIntervalSince(start) < 5
        {
            usleep(10_000)
        }
        let line = standby.warnings.first { $0.contains("took over membership 3") }
        #expect(line?.contains("rank 0 on 127.0.0.1 (pid 4000), rank 1 on 127.0.0.1 (pid 4001)") == true, "\(standby.warnings)")
        #expect(standby.coordinator.dropped.total >= 3, "\(standby.coordinator.dropped.counts)")
        standby.coordinator.interruption.abandon("the test is over")
        for s in members {
            guard case .stop? = Self.nextMessage(s, seconds: 5) else {
                Issue.record("a member was not told to stop")
                continue
            }
        }
        _ = standby.wait(timeout: 5)
    }
}
