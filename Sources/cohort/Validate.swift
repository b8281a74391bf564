import ArgumentParser
import Config
import Foundation
import Runtime
import Training

/// `cohort validate FILE`: decode and check a cluster.yaml without starting anything, so a typo costs a second,
/// not a failed launch on eight machines.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a cluster.yaml: types, unknown or missing keys, and that hosts, workers and parallelism add up.")

    @Argument(help: "The cluster file.")
    var file: String = "cluster.yaml"

    @OptionGroup var output: OutputOptions

    func run() throws {
        let config: ClusterConfig
        do {
            config = try ClusterConfig.load(path: file)
            // A tune: section is checked as `cohort tune` checks it (space, bounds, job keys, η, budgets).
            if config.tune != nil {
                _ = try TuneSpec.load(path: file, job: config.job)
            }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        if output.json {
            let layout = config.rankLayout
            let ranks = config.plannedRanks().map {
                ValidLine.Rank(
                    rank: $0.rank, host: $0.address, local: $0.localIndex, port: $0.dataPort, stage: $0.coordinates.stage,
                    replica: $0.coordinates.replica)
            }
            JSONLine.print(
                ValidLine(
                    file: file, workers: config.totalWorkers, hosts: config.hosts.count, dataParallel: layout.dataParallel,
                    pipelineStages: layout.pipelineStages, ranks: ranks))
        } else {
            print("\(file): valid")
            for line in config.summary() { print("  " + line) }
        }
    }
}
