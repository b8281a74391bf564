import ArgumentParser
import Foundation
import Observability
import Runtime
import Transport

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator alone: rendezvous, heartbeats, metrics, summary (workers start elsewhere).")

    @Option(name: .long, help: "The cluster file.")
    var config: String = "cluster.yaml"

    @Option(help: "Bind this endpoint instead of the file's interface and port (e.g. tcp://*:5555).")
    var bind: String?

    @Option(
        name: .customLong("token-file"),
        help:
            "A file holding the job's token (curve off; overrides security.token_file). With neither, a token is generated and written to ./cohort-job-token (0600), for the workers' --token-file."
    )
    var tokenFile: String?

    @Flag(
        help:
            "Run as the standby of cluster.coordinator.standby: bind its address, form no membership, and take the job over when every worker reports the coordinator lost."
    )
    var standby = false

    @OptionGroup var overrides: RunOverrides
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LogOptions

    /// Where a generated token goes (in the current directory).
    static let generatedTokenFile = "cohort-job-token"

    func run() throws {
        let cluster = try overrides.apply(to: loadClusterConfig(config))
        try logging.bootstrap(logFile: cluster.output.logFile, rank: "coordinator")
        let token = try cluster.cluster.security.curve ? nil : tokenFile.map { try JobToken.load(file: $0) }
        let coordinator = try Coordinator(
            config: cluster, run: overrides.runOptions, bind: bind, token: token, standby: standby)
        if coordinator.generatedToken, let generated = coordinator.security.token {
            // Secure by default: no curve and no token configured still means a token, in a file only this user
            // can read, which hand-started workers name with --token-file.
            let path = FileManager.default.currentDirectoryPath + "/" + Self.generatedTokenFile
            try generated.write(toFile: path)
            printError(
                "no curve and no token_file: the job token is in \(path) (mode 0600); start workers with --token-file \(path)")
        }
        let display = ProgressDisplay(enabled: true)
        let endpoint = try startStatusEndpoint(cluster, coordinator)
        defer { endpoint?.stop() }
        coordinator.observer = endpoint
        coordinator.onEvent = {
            display.show($0)
            endpoint?.coordinatorEvent($0)
        }
        // SIGTERM or SIGINT: the coordinator tells every worker to stop, then exits non-zero.
        let interruption = coordinator.interruption
        let signals = SignalFlag(signals: [SIGTERM, SIGINT]) { signal in
            interruption.abandon("the coordinator was stopped by signal \(signal)")
        }
        defer { signals.cancel() }
        do {
            let s = try coordinator.runJob()
            endpoint?.jobEnded(s, reason: nil)
            display.finish(s)
            if output.json {
                printDoneLine(s)
            }
        } catch {
            endpoint?.jobEnded(nil, reason: "\(error)")
            display.clear()
            throw CohortFailure("\(error)")
        }
    }
}
