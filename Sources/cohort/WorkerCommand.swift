import ArgumentParser
import CProcess
import Foundation
import Runtime
import Training
import Transport

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one worker: register with the coordinator, take a rank, peers and the job, and train.")

    @Option(help: "The coordinator's control endpoint, e.g. tcp://10.0.0.1:5555.")
    var coordinator: String

    @Option(
        help:
            "The address other workers reach this one at (default: 127.0.0.1 for a loopback coordinator, else this host's name).")
    var host: String?

    @Option(
        help:
            "Address or interface name the data-plane socket binds to (default: --host, a name resolved to its address; * for all)."
    )
    var interface: String?

    @Option(name: .customLong("data-port"), help: "Data-plane port (0: any free port).")
    var dataPort: Int = 0

    @Option(name: .customLong("local-index"), help: "This worker's index on its host (set by the launcher).")
    var localIndex: Int?

    @Option(name: .customLong("key-file"), help: "The cluster's CURVE key file from `cohort keys` (turns security on).")
    var keyFile: String?

    @Option(
        name: .customLong("token-file"),
        help:
            "A file holding the job's token (curve off): the coordinator's `security.token_file`, or the file it printed. `cohort launch` passes it in COHORT_JOB_TOKEN instead."
    )
    var tokenFile: String?

    @Option(name: .customLong("rendezvous-timeout"), help: "Seconds to wait for the coordinator's assignment.")
    var rendezvousTimeout: Double = 120

    func run() throws {
        // Started by `cohort launch` on this host: end with the launcher, even if it dies by SIGKILL or a crash,
        // instead of outliving it for a peer deadline while holding the data port a new launch wants.
        if let raw = ProcessInfo.processInfo.environment[Launcher.parentVariable], let parent = Int32(raw),
            cohort_exit_with_parent(parent) == 1
        {
            throw CohortFailure("worker: the launcher (pid \(parent)) exited before this worker started")
        }
        let loopback = coordinator.contains("://127.") || coordinator.contains("://localhost")
        var o = WorkerOptions(coordinator: coordinator, host: host ?? (loopback ? "127.0.0.1" : ProcessInfo.processInfo.hostName))
        // zmq binds to an address or interface name, not a host name: without --interface the worker binds the
        // address its host name resolves to (runWorker), never all interfaces.
        o.interface = interface
        o.dataPort = dataPort
        o.localIndex = localIndex
        o.rendezvousTimeout = rendezvousTimeout
        do {
            if let keyFile { o.curve = try loadCurveSecurity(keyFile: keyFile) }
            if o.curve == nil {
                o.token = try tokenFile.map { try JobToken.load(file: $0) } ?? JobToken.fromEnvironment()
            }
            _ = try runWorker(o) { printError($0) }
        } catch RuntimeError.dismissed(let reason) {
            printError("worker on \(o.host): left the job: \(reason)")
            throw ExitCode(WorkerExitStatus.dismissed)
        } catch {
            throw CohortFailure("worker on \(o.host): \(error)")
        }
    }
}
