import ArgumentParser
import Foundation
import Observability
import Parallel
import Runtime
import Training

struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the coordinator and all workers of a cluster.yaml, show live progress, and summarise.",
        discussion: "Local hosts run as child processes; other hosts are started over ssh. Ctrl-C stops everything.")

    @Argument(help: "The cluster file.")
    var config: String = "cluster.yaml"

    @OptionGroup var overrides: RunOverrides
    @OptionGroup var output: OutputOptions
    @OptionGroup var logging: LogOptions

    func run() throws {
        let cluster = try overrides.apply(to: loadClusterConfig(config))
        try logging.bootstrap(logFile: cluster.output.logFile, rank: "coordinator")
        let run = overrides.runOptions
        var endpoint: StatusEndpoint?
        defer { endpoint?.stop() }
        let summary = try launchCluster(cluster, run: run, observer: ProgressDisplay(enabled: !output.json)) {
            endpoint?.stop()  // a pipeline restarted under `elastic.restart` starts a new coordinator
            endpoint = try startStatusEndpoint(cluster, $0)
            return endpoint
        }
        if let path = run.tracePath {
            // Each rank wrote its own file; join those of this host (remote hosts keep theirs).
            let merged = try mergeChromeTraces(path: path, ranks: summary.workers)
            if !output.json { print("trace: \(merged) rank(s) in \(path)") }
        }
        RunPlots.afterRun(metrics: cluster.output.metricsFile, directory: cluster.output.plotDirectory)
        if output.json {
            printDoneLine(summary)
        }
    }
}

/// The launch's live output is the progress display's (`ProgressDisplay(enabled: false)` for none).
extension ProgressDisplay: ClusterLaunchObserver {}

/// The last stdout line of `launch --json` and `coordinator --json`.
func printDoneLine(_ s: JobSummary) {
    JSONLine.print(DoneLine(summary: s))
}
