import ArgumentParser
import Foundation
import Runtime

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator alone: rendezvous, heartbeats, metrics, summary (workers start elsewhere).")

    @Option(name: .long, help: "The cluster file.")
    var config: String = "cluster.yaml"

    @Option(help: "Bind this endpoint instead of the file's interface and port (e.g. tcp://*:5555).")
    var bind: String?

    @OptionGroup var overrides: RunOverrides
    @OptionGroup var output: OutputOptions

    func run() throws {
        let cluster = try overrides.apply(to: loadClusterConfig(config))
        let coordinator = try Coordinator(config: cluster, run: overrides.runOptions, bind: bind)
        let display = ProgressDisplay(enabled: true)
        coordinator.onEvent = { display.show($0) }
        do {
            let s = try coordinator.runJob()
            display.finish(s)
            if output.json {
                printDoneLine(s)
            }
        } catch {
            display.clear()
            throw CohortFailure("\(error)")
        }
    }
}
