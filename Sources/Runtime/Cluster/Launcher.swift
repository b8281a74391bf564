import Config
import Foundation
import Training
import Transport

/// Starts the worker processes of a cluster.yaml: local ones as child processes of this binary, remote ones over
/// ssh (the same `cohort` path is expected on every host). Keeps track of them so none is left behind.
public final class Launcher: @unchecked Sendable {
    public let config: ClusterConfig
    public let coordinatorEndpoint: String
    public let executable: String
    /// How the workers authenticate: the cluster's CURVE key (its file is passed), or the job's token, handed to
    /// each worker in its environment (local) or on its standard input (ssh), never on a command line.
    public let security: PeerSecurity?
    private var processes: [(rank: PlannedRank, process: Process)] = []
    private let lock = NSLock()
    private var stopping = false

    public init(
        config: ClusterConfig, coordinatorEndpoint: String, executable: String = Launcher.selfExecutable(),
        security: PeerSecurity? = nil
    ) {
        self.config = config
        self.coordinatorEndpoint = coordinatorEndpoint
        self.executable = executable
        self.security = security
    }

    /// How one worker is started: the program, its arguments (what `ps` shows), what is added to its environment,
    /// and what it reads on standard input.
    public struct WorkerCommand: Sendable {
        public var executable: String
        public var arguments: [String]
        public var environment: [String: String]
        public var standardInput: String?
    }

    /// What `start` runs for `planned` (`extra` arguments go to `cohort worker`). The token never appears in the
    /// arguments: a local worker finds it in `COHORT_JOB_TOKEN`, a remote one reads it from its standard input
    /// (`--token-file /dev/stdin`, fed through ssh).
    public func command(for planned: PlannedRank, extra: [String] = []) -> WorkerCommand {
        var args = [
            "worker", "--coordinator", coordinatorEndpoint, "--host", planned.address,
            "--data-port", "\(config.cluster.dataPorts.first == 0 ? 0 : planned.dataPort)", "--local-index",
            "\(planned.localIndex)",
        ]
        // The configured interface on every host, remote ones included; none configured: the host's own address
        // (the worker resolves a name), never all interfaces unless the cluster file says "*".
        let interface = config.cluster.interface
        args += ["--interface", interface.isEmpty ? planned.address : interface]
        if let key = config.cluster.security.keyFile, config.cluster.security.curve { args += ["--key-file", key] }
        let token = security?.token
        let local = Launcher.isLocal(planned.address)
        if token != nil && !local { args += ["--token-file", "/dev/stdin"] }
        args += extra
        if local {
            var environment = [Launcher.parentVariable: "\(getpid())"]
            if let token { environment[JobToken.environmentVariable] = token.value }
            return WorkerCommand(executable: executable, arguments: args, environment: environment, standardInput: nil)
        }
        let user = config.hosts[planned.hostIndex].sshUser.map { "\($0)@" } ?? ""
        // `--` ends ssh's options: a destination can never be read as one (validation also refuses a host or
        // user starting with '-').
        return WorkerCommand(
            executable: "/usr/bin/ssh",
            arguments: ["-o", "BatchMode=yes", "--", "\(user)\(planned.address)", "cohort"] + args.map(shellQuote),
            environment: [:], standardInput: token.map { $0.value + "\n" })
    }

    public static func selfExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Whether `address` names this machine (loopback or one of its names).
    public static func isLocal(_ address: String) -> Bool {
        if address == "localhost" || address.hasPrefix("127.") || address == "::1" { return true }
        return address == ProcessInfo.processInfo.hostName
    }

    /// Set for local workers to the launcher's pid: they exit with it, even when it is killed with SIGKILL.
    public static let parentVariable = "COHORT_LAUNCHER_PID"

    /// Starts every planned worker; `extra` arguments go to each `cohort worker`.
    /// `onExit` is called when a worker process ends (its rank plan, pid and exit status).
    public func start(extra: [String] = [], onExit: @escaping @Sendable (PlannedRank, Int32, Int32) -> Void) throws {
        for planned in config.plannedRanks() {
            do {
                try spawn(planned, extra: extra, onExit: onExit)
            } catch {
                stopAll()
                throw error
            }
        }
    }

    /// Starts the worker process of `planned` (again, for a restart under `elastic.restart`); false once the
    /// workers are being stopped, when nothing new may start.
    @discardableResult
    public func spawn(
        _ planned: PlannedRank, extra: [String] = [], onExit: @escaping @Sendable (PlannedRank, Int32, Int32) -> Void
    ) throws -> Bool {
        let command = command(for: planned, extra: extra)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: command.executable)
        p.arguments = command.arguments
        // A local worker asks to be ended with this process (`cohort worker` reads the launcher's pid at start).
        if !command.environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(command.environment) { $1 }
        }
        let input = command.standardInput.map { _ in Pipe() }
        if let input { p.standardInput = input }
        p.terminationHandler = { proc in onExit(planned, proc.processIdentifier, proc.terminationStatus) }
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { return false }
        do {
            try p.run()
            if let input, let text = command.standardInput {
                input.fileHandleForWriting.write(Data(text.utf8))
                try? input.fileHandleForWriting.close()
            }
        } catch {
            throw RuntimeError.invalid(
                "cannot start worker rank \(planned.rank) on \(planned.address): \(error.localizedDescription)")
        }
        processes.append((planned, p))
        return true
    }

    /// Whether the workers are being stopped (`waitAll` or `stopAll` began): a worker exit then is no failure to
    /// restart.
    public var isStopping: Bool { lock.withLock { stopping } }

    /// Waits up to `timeout` s for all workers to exit by themselves, then terminates what is left.
    public func waitAll(timeout: Double) {
        let end = Date().addingTimeInterval(timeout)
        lock.lock()
        stopping = true
        let all = processes
        lock.unlock()
        for (_, p) in all {
            while p.isRunning && Date() < end { usleep(20_000) }
        }
        stopAll()
    }

    /// SIGTERM, then SIGKILL after a grace period, to every worker still running.
    public func stopAll(grace: Double = 2) {
        lock.lock()
        stopping = true
        let all = processes
        lock.unlock()
        for (_, p) in all where p.isRunning { p.terminate() }
        let end = Date().addingTimeInterval(grace)
        for (_, p) in all {
            while p.isRunning && Date() < end { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
    }

    public var pids: [Int32] {
        lock.lock()
        defer { lock.unlock() }
        return processes.map { $0.process.processIdentifier }
    }
}

private func shellQuote(_ s: String) -> String {
    s.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=@".contains($0) }
        ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
