import Config
import Foundation
import Training

/// Starts the worker processes of a cluster.yaml: local ones as child processes of this binary, remote ones over
/// ssh (the same `cohort` path is expected on every host). Keeps track of them so none is left behind.
public final class Launcher: @unchecked Sendable {
    public let config: ClusterConfig
    public let coordinatorEndpoint: String
    public let executable: String
    private var processes: [(rank: PlannedRank, process: Process)] = []
    private let lock = NSLock()

    public init(config: ClusterConfig, coordinatorEndpoint: String, executable: String = Launcher.selfExecutable()) {
        self.config = config
        self.coordinatorEndpoint = coordinatorEndpoint
        self.executable = executable
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
    /// `onExit` is called when a worker process ends (its rank plan and exit status).
    public func start(extra: [String] = [], onExit: @escaping @Sendable (PlannedRank, Int32) -> Void) throws {
        for planned in config.plannedRanks() {
            var args = [
                "worker", "--coordinator", coordinatorEndpoint, "--host", planned.address,
                "--data-port", "\(config.cluster.dataPorts.first == 0 ? 0 : planned.dataPort)", "--local-index",
                "\(planned.localIndex)",
            ]
            if config.cluster.interface != "*" && Launcher.isLocal(planned.address) {
                args += ["--interface", planned.address]
            }
            if let key = config.cluster.security.keyFile, config.cluster.security.curve { args += ["--key-file", key] }
            args += extra
            let p = Process()
            if Launcher.isLocal(planned.address) {
                p.executableURL = URL(fileURLWithPath: executable)
                p.arguments = args
                // The worker asks to be ended with this process (`cohort worker` reads it at start).
                p.environment = ProcessInfo.processInfo.environment.merging([Launcher.parentVariable: "\(getpid())"]) { $1 }
            } else {
                let user = config.hosts[planned.hostIndex].sshUser.map { "\($0)@" } ?? ""
                p.executableURL = URL(fileURLWithPath: "/usr/bin/ssh")
                // `--` ends ssh's options: a destination can never be read as one (validation also refuses a
                // host or user starting with '-').
                p.arguments = ["-o", "BatchMode=yes", "--", "\(user)\(planned.address)", "cohort"] + args.map(shellQuote)
            }
            p.terminationHandler = { proc in onExit(planned, proc.terminationStatus) }
            do {
                try p.run()
            } catch {
                stopAll()
                throw RuntimeError.invalid(
                    "cannot start worker rank \(planned.rank) on \(planned.address): \(error.localizedDescription)")
            }
            lock.lock()
            processes.append((planned, p))
            lock.unlock()
        }
    }

    /// Waits up to `timeout` s for all workers to exit by themselves, then terminates what is left.
    public func waitAll(timeout: Double) {
        let end = Date().addingTimeInterval(timeout)
        lock.lock()
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
