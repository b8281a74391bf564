import ArgumentParser
import Foundation
import Runtime

struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the coordinator and all workers of a cluster.yaml, show live progress, and summarise.",
        discussion: "Local hosts run as child processes; other hosts are started over ssh. Ctrl-C stops everything.")

    @Argument(help: "The cluster file.")
    var config: String = "cluster.yaml"

    @OptionGroup var overrides: RunOverrides
    @OptionGroup var output: OutputOptions

    func run() throws {
        let cluster = try overrides.apply(to: loadClusterConfig(config))
        let run = overrides.runOptions
        let summary = try launchCluster(cluster, run: run, quiet: output.json)
        if let path = run.tracePath {
            // Each rank wrote its own file; join those of this host (remote hosts keep theirs).
            let merged = try mergeChromeTraces(path: path, ranks: summary.workers)
            if !output.json { print("trace: \(merged) rank(s) in \(path)") }
        }
        if output.json {
            printDoneLine(summary)
        }
    }
}

/// Runs a whole cluster from this process: the coordinator here, the workers as processes. Shared by
/// `launch` and `bench scaling`.
func launchCluster(_ cluster: ClusterConfig, run: RunOptions, quiet: Bool) throws -> JobSummary {
    let coordinator = try Coordinator(config: cluster, run: run)
    let display = ProgressDisplay(enabled: !quiet)
    coordinator.onEvent = { display.show($0) }
    let endpoint = dialableEndpoint(bound: coordinator.endpoint, host: cluster.cluster.coordinator.host)
    let launcher = Launcher(config: cluster, coordinatorEndpoint: endpoint)
    let interrupt = InterruptHandler { launcher.stopAll(grace: 1) }
    defer { interrupt.cancel() }
    let abandon = coordinator.rendezvousAbandon
    try launcher.start { planned, status in
        if status != 0 {
            display.note("worker rank \(planned.rank) on \(planned.address) exited with status \(status)")
            abandon.abandon("worker rank \(planned.rank) on \(planned.address) exited with status \(status)")
        }
    }
    do {
        let summary = try coordinator.runJob()
        launcher.waitAll(timeout: 10)
        display.finish(summary)
        return summary
    } catch {
        launcher.stopAll()
        display.clear()
        throw CohortFailure("\(error)")
    }
}

/// The last stdout line of `launch --json` and `coordinator --json`.
func printDoneLine(_ s: JobSummary) {
    printJSONLine(["event": "done", "workers": s.workers, "test_accuracy": s.testAccuracy ?? .nan,
                   "samples_per_s": s.samplesPerSecond, "steps": s.steps, "seconds": s.seconds,
                   "compute_s": s.computeSeconds, "allreduce_s": s.allReduceSeconds,
                   "wait_s": s.waitSeconds, "weight_checksums": s.weightChecksums])
}

/// A wildcard bind (tcp://0.0.0.0:P) is dialled at the configured host name.
func dialableEndpoint(bound: String, host: String) -> String {
    guard bound.hasPrefix("tcp://0.0.0.0:") || bound.hasPrefix("tcp://*:") else { return bound }
    return advertisedEndpoint(bound: bound, host: host)
}
