import CohortTestSupport
import Config
import Foundation
import Runtime
import Testing
import Training
import Transport

/// Stray, malformed and oversized messages on the coordinator's port, during rendezvous and mid-training: the job
/// completes and the counters show them dropped. The coordinator runs here; its two workers are real processes.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CoordinatorHardeningTests {
    /// The coordinator on a thread; `result` once `runJob` returns.
    final class RunningCoordinator: @unchecked Sendable {
        let coordinator: Coordinator
        private let lock = NSLock()
        private var outcome: Result<JobSummary, any Error>?
        private var warningLines: [String] = []
        private var progressEvents = 0
        private var registeredEvents = 0
        private let finished = DispatchSemaphore(value: 0)

        init(_ config: ClusterConfig) throws {
            coordinator = try Coordinator(config: config, bind: "tcp://127.0.0.1:0")
            coordinator.onEvent = { [self] event in
                switch event {
                case .warning(let line): lock.withLock { warningLines.append(line) }
                case .progress: lock.withLock { progressEvents += 1 }
                case .registered: lock.withLock { registeredEvents += 1 }
                default: break
                }
            }
            let t = Thread { [self] in
                let r = Result { try coordinator.runJob() }
                lock.withLock { outcome = r }
                finished.signal()
            }
            t.start()
        }

        var warnings: [String] { lock.withLock { warningLines } }
        var registered: Int { lock.withLock { registeredEvents } }
        var training: Bool { lock.withLock { progressEvents > 0 && outcome == nil } }

        func wait(timeout: Double) -> Result<JobSummary, any Error>? {
            guard finished.wait(timeout: .now() + timeout) == .success else { return nil }
            return lock.withLock { outcome }
        }
    }

    /// A client that sends junk to `endpoint` from its own connection, presenting `token` (a buggy or hostile
    /// holder of the job's token), or none, or a wrong one.
    struct Stranger {
        let socket: Socket
        init(_ context: Context, endpoint: String, token: JobToken?) throws {
            socket = try Socket(context, type: .dealer, linger: .zero)
            if let token { try socket.makeTokenClient(token) }
            try socket.connect(endpoint)
        }

        func sendJunk() throws {
            let seventy = (0..<70).map { [UInt8(truncatingIfNeeded: $0)] }
            try socket.sendMultipart(seventy, deadline: .after(seconds: 2))
            try socket.send(Array("not json at all".utf8), deadline: .after(seconds: 2))
            try socket.sendMultipart([Array("two".utf8), Array("frames".utf8)], deadline: .after(seconds: 2))
            try socket.send([UInt8](repeating: 0xFF, count: 4096), deadline: .after(seconds: 2))
            let heartbeat = ControlMessage.heartbeat(rank: 0).encoded()
            try socket.send(heartbeat, deadline: .after(seconds: 2))
        }
    }

    /// A `cohort worker` with the job's token in its environment, as `cohort launch` starts one.
    func startWorker(
        _ binary: URL, _ running: RunningCoordinator, index: Int, dataPort: Int = 0, sockets: Bool = false
    ) throws -> ChildProcess {
        try ChildProcess(
            binary,
            [
                "worker", "--coordinator", running.coordinator.endpoint, "--host", "127.0.0.1", "--local-index",
                "\(index)", "--data-port", "\(dataPort)",
            ],
            environment: [
                JobToken.environmentVariable: running.coordinator.security.token?.value ?? "",
                // sockets: the ring over tcp, not shared memory, so the data-plane inbox is read all along.
                "COHORT_SHARED_MEMORY": sockets ? "0" : "1",
            ])
    }

    @Test func junkDuringRendezvousAndTrainingIsDroppedAndTheJobCompletes() throws {
        let binary = try #require(cohortBinary(), "build the cohort binary first (swift build -c release)")
        let dir = try temporaryDirectory()
        // Long enough that progress reports (four a second) arrive before it ends, even on a loaded machine.
        let config = try ClusterConfig.load(path: try writeClusterFile(workers: 2, steps: 20000, epochs: 1, dir: dir).path)
        let running = try RunningCoordinator(config)
        let context = try Context(ioThreads: 1)
        let token = running.coordinator.security.token
        let stranger = try Stranger(context, endpoint: running.coordinator.endpoint, token: token)
        try stranger.sendJunk()
        Thread.sleep(forTimeInterval: 0.3)
        let duringRendezvous = running.coordinator.dropped.total

        let workers = try (0..<2).map { try startWorker(binary, running, index: $0) }
        let start = Date()
        while !running.training && Date().timeIntervalSince(start) < 60 { Thread.sleep(forTimeInterval: 0.01) }
        #expect(running.training, "the job was not training when the junk was sent")
        try stranger.sendJunk()
        let late = try Stranger(context, endpoint: running.coordinator.endpoint, token: token)
        let registration = Registration(
            host: "127.0.0.1", pid: 1, cores: 1, protocolVersion: ControlMessage.protocolVersion,
            dataEndpoint: "tcp://127.0.0.1:1", localIndex: nil)
        try late.socket.send(ControlMessage.register(registration).encoded(), deadline: .after(seconds: 2))

        let outcome = try #require(running.wait(timeout: 120), "the coordinator did not finish")
        for w in workers { #expect(w.wait(timeout: 30) == 0, "worker failed: \(w.output)") }
        let summary = try outcome.get()
        #expect(summary.workers == 2)
        #expect(duringRendezvous >= 5, "dropped during rendezvous: \(running.coordinator.dropped.counts)")
        let counts = running.coordinator.dropped.counts
        #expect(counts[.oversized, default: 0] >= 1 && counts[.undecodable, default: 0] >= 2, "\(counts)")
        #expect(counts[.malformedEnvelope, default: 0] >= 1 && counts[.notAMember, default: 0] >= 1, "\(counts)")
        // The stranger's flood is one warning line per peer per interval, not one per message.
        #expect(running.warnings.count < running.coordinator.dropped.total, "\(running.warnings)")
    }

    @Test func aDuplicateRegistrationIsRefused() throws {
        let dir = try temporaryDirectory()
        let config = try ClusterConfig.load(path: try writeClusterFile(workers: 2, dir: dir).path)
        let running = try RunningCoordinator(config)
        let context = try Context(ioThreads: 1)
        let first = try Stranger(context, endpoint: running.coordinator.endpoint, token: running.coordinator.security.token)
        let registration = Registration(
            host: "127.0.0.1", pid: 4242, cores: 1, protocolVersion: ControlMessage.protocolVersion,
            dataEndpoint: "tcp://127.0.0.1:1", localIndex: 0)
        try first.socket.send(ControlMessage.register(registration).encoded(), deadline: .after(seconds: 2))
        try first.socket.send(ControlMessage.register(registration).encoded(), deadline: .after(seconds: 2))
        let reply = try first.socket.receive(deadline: .after(seconds: 5))
        guard case .stop(let reason) = try ControlMessage.decode(reply.bytes, from: "test") else {
            Issue.record("expected a stop for the duplicate registration")
            return
        }
        #expect(reason.contains("already registered"), "\(reason)")
        #expect(running.coordinator.dropped.counts[.duplicateRegistration] == 1)
        running.coordinator.rendezvousAbandon.abandon("test over")
        let outcome = try #require(running.wait(timeout: 10))
        #expect(throws: (any Error).self) { try outcome.get() }
    }

    /// Only holders of the cluster's secret key register: a client that knows just the cluster's public key
    /// (and brings its own key pair) is refused in the CURVE handshake by the coordinator's ZAP handler.
    @Test func aForeignCurveKeyCannotRegister() throws {
        let dir = try temporaryDirectory()
        let cluster = try CurveKeyPair.generate()
        let keyFile = dir.appendingPathComponent("cluster.keys")
        try "curve_public_key: \"\(cluster.publicKey)\"\ncurve_secret_key: \"\(cluster.secretKey)\"\n"
            .write(to: keyFile, atomically: true, encoding: .utf8)
        let url = try writeClusterFile(workers: 2, dir: dir)
        let yaml = try String(contentsOf: url, encoding: .utf8).replacingOccurrences(
            of: "  interface: 127.0.0.1\n",
            with: "  interface: 127.0.0.1\n  security: {curve: true, key_file: \"\(keyFile.path)\"}\n")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        let running = try RunningCoordinator(try ClusterConfig.load(path: url.path))
        defer { running.coordinator.rendezvousAbandon.abandon("test over") }
        let context = try Context(ioThreads: 1)
        let registration = Registration(
            host: "127.0.0.1", pid: 4242, cores: 1, protocolVersion: ControlMessage.protocolVersion,
            dataEndpoint: "tcp://127.0.0.1:1", localIndex: 0)

        let foreign = try Socket(context, type: .dealer, linger: .zero)
        let own = try CurveKeyPair.generate()
        try foreign.makeCurveClient(serverPublicKey: cluster.publicKey, clientKeys: own)
        try foreign.connect(running.coordinator.endpoint)
        try? foreign.send(ControlMessage.register(registration).encoded(), deadline: .after(seconds: 1))
        Thread.sleep(forTimeInterval: 1.0)
        #expect(running.registered == 0, "a client with a foreign key registered")

        let member = try Socket(context, type: .dealer, linger: .zero)
        try member.makeCurveClient(CurveSecurity(cluster: cluster))
        try member.connect(running.coordinator.endpoint)
        try member.send(ControlMessage.register(registration).encoded(), deadline: .after(seconds: 2))
        let start = Date()
        while running.registered == 0 && Date().timeIntervalSince(start) < 5 { Thread.sleep(forTimeInterval: 0.01) }
        #expect(running.registered == 1, "the cluster key's holder did not register")
    }

    /// With curve off the job still has a secret: a client with no token, and one with a wrong token, cannot
    /// register; the wrong token is refused in the handshake and its address logged once; the workers that hold
    /// the token register and the job completes.
    @Test func clientsWithoutTheJobTokenAreRefusedAndTheJobCompletes() throws {
        let binary = try requireCohortBinary()
        let dir = try temporaryDirectory()
        let config = try ClusterConfig.load(path: try writeClusterFile(workers: 2, steps: 40, epochs: 1, dir: dir).path)
        let running = try RunningCoordinator(config)
        #expect(running.coordinator.generatedToken, "no token configured: the coordinator makes one")
        let context = try Context(ioThreads: 1)
        let registration = Registration(
            host: "127.0.0.1", pid: 4242, cores: 1, protocolVersion: ControlMessage.protocolVersion,
            dataEndpoint: "tcp://127.0.0.1:1", localIndex: 0)
        let none = try Stranger(context, endpoint: running.coordinator.endpoint, token: nil)
        let wrong = try Stranger(
            context, endpoint: running.coordinator.endpoint, token: try JobToken(String(repeating: "x", count: 64)))
        for s in [none, wrong] {
            try? s.socket.send(ControlMessage.register(registration).encoded(), deadline: .after(seconds: 1))
        }
        Thread.sleep(forTimeInterval: 1.0)
        #expect(running.registered == 0, "a client without the job token registered")
        #expect(running.coordinator.refusedPeers == ["127.0.0.1"], "\(running.coordinator.refusedPeers)")
        #expect(running.coordinator.dropped.counts[.unauthenticated, default: 0] >= 1)

        let workers = try (0..<2).map { try startWorker(binary, running, index: $0) }
        let outcome = try #require(running.wait(timeout: 90), "the coordinator did not finish")
        for w in workers { #expect(w.wait(timeout: 30) == 0, "worker failed: \(w.output)") }
        #expect(try outcome.get().workers == 2)
        #expect(running.registered == 2)
        // The refused address is one warning line, however often libzmq retried the handshake.
        let refusals = running.warnings.filter { $0.contains("refused a connection from 127.0.0.1") }
        #expect(refusals.count == 1, "\(running.warnings)")
    }

    /// Junk on a worker's data port mid-training, from a holder of the job's token: bytes that are no header, a
    /// header with a bad magic, a header without its payload, and a well-formed frame from a rank that does not
    /// exist. The worker drops and counts them (one warning line) and the job completes; a client with a wrong
    /// token is refused on the data port too.
    @Test func junkOnAWorkersDataPortIsDroppedAndTheJobCompletes() throws {
        let binary = try requireCohortBinary()
        let dir = try temporaryDirectory()
        let config = try ClusterConfig.load(
            path: try writeClusterFile(workers: 2, steps: 30000, epochs: 1, dir: dir).path)
        let running = try RunningCoordinator(config)
        let token = try #require(running.coordinator.security.token)
        let port = try freeTCPPort()
        let workers = [
            try startWorker(binary, running, index: 0, dataPort: port, sockets: true),
            try startWorker(binary, running, index: 1, sockets: true),
        ]
        let start = Date()
        while !running.training && Date().timeIntervalSince(start) < 60 { Thread.sleep(forTimeInterval: 0.01) }
        #expect(running.training, "the job was not training when the junk was sent")

        let context = try Context(ioThreads: 1)
        let insider = try Socket(context, type: .push, linger: .milliseconds(500))
        try insider.makeTokenClient(token)
        try insider.connect("tcp://127.0.0.1:\(port)")
        var badMagic = WireHeader(kind: .reduce, dtype: .float32, group: 0, sender: 1, sequence: 1, chunk: 0, length: 8).bytes
        badMagic[0] ^= 0xFF
        let stranger = WireHeader(
            kind: .pointToPoint, dtype: .bytes, group: 77, sender: 9, sequence: 1, chunk: 0, length: 4)
        try insider.send(Array("not a header at all".utf8), deadline: .after(seconds: 2))
        try insider.sendMultipart([badMagic, [UInt8](repeating: 0, count: 8)], deadline: .after(seconds: 2))
        try insider.send(stranger.bytes, deadline: .after(seconds: 2))
        try insider.sendMultipart([stranger.bytes, [1, 2, 3, 4]], deadline: .after(seconds: 2))
        let outsider = try Socket(context, type: .push, linger: .zero)
        try outsider.makeTokenClient(try JobToken(String(repeating: "z", count: 64)))
        try outsider.connect("tcp://127.0.0.1:\(port)")
        try? outsider.send(Array("wrong token".utf8), deadline: .after(seconds: 1))
        // The worker reads its inbox while it trains: wait for its warning, then let the job run out.
        let sent = Date()
        while !workers[0].output.contains("dropped a data-plane frame") && Date().timeIntervalSince(sent) < 30 {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(running.training || workers[0].output.contains("dropped"), "the job ended before the junk was read")

        let outcome = try #require(running.wait(timeout: 120), "the coordinator did not finish")
        for w in workers { #expect(w.wait(timeout: 30) == 0, "worker failed: \(w.output)") }
        #expect(try outcome.get().workers == 2)
        let output = workers[0].output
        #expect(output.contains("dropped a data-plane frame from 127.0.0.1"), "\(output)")
        #expect(output.contains("(unauthenticated)") || output.contains("(malformed)"), "\(output)")
    }
}

/// A tcp port on 127.0.0.1 that nothing listens on right now (the OS's choice for port 0).
func freeTCPPort() throws -> Int {
    let context = try Context(ioThreads: 1)
    let socket = try Socket(context, type: .pull, linger: .zero)
    let endpoint = try socket.bind("tcp://127.0.0.1:0")
    socket.close()
    guard let port = endpoint.split(separator: ":").last.flatMap({ Int($0) }) else {
        throw TestFailure("no port in \(endpoint)")
    }
    return port
}
