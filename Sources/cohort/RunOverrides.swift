import ArgumentParser
import Config
import Foundation
import Runtime
import Training

/// Options that change one run of a cluster.yaml without editing it (launch, coordinator, bench scaling).
struct RunOverrides: ParsableArguments {
    @Option(help: "Run this many workers instead of the file's hosts[].workers.")
    var workers: Int?

    @Option(help: "Swap in a recipe of `cohort train` (W1 | W2 | W3 | W4).")
    var workload: String?

    @Option(help: "Train for this many optimizer steps instead of the job's epochs.")
    var steps: Int?

    @Option(help: "Train for this many epochs.")
    var epochs: Int?

    @Option(help: "GEMM threads per worker.")
    var threads: Int = 1

    @Option(name: .customLong("bucket-kb"), help: "Gradient all-reduce bucket size in KiB.")
    var bucketKB: Int = 128

    @Flag(help: "Resume from the newest valid checkpoint.")
    var resume = false

    @Flag(
        name: .customLong("no-allreduce"),
        help: "Diagnostic: skip the gradient all-reduce (the compute-only ceiling; replicas diverge).")
    var noAllReduce = false

    @Option(
        help:
            "Write a Chrome trace (Perfetto, chrome://tracing) of every pipeline stage's forward, backward, send, receive and all-reduce spans to this file."
    )
    var trace: String?

    @OptionGroup var gradientMethod: GradientMethodOptions

    @Option(
        name: .customLong("warmup-steps"),
        help: "Leave this many first steps out of the steady-state figures (steady_* in the done line).")
    var warmupSteps: Int = 0

    @Flag(
        name: .customLong("ephemeral-ports"),
        help: "Let the OS pick the coordinator and data-plane ports (several clusters on one machine).")
    var ephemeralPorts = false

    func apply(to config: ClusterConfig) throws -> ClusterConfig {
        var c = try workers.map { try config.withWorkers($0) } ?? config
        if let workload {
            guard var recipe = JobSpec.recipe(named: workload) else {
                throw ValidationError(
                    "--workload: expected one of \(JobSpec.workloadNames.joined(separator: ", ")), got \(workload)")
            }
            recipe.data = c.job.data
            c.job = recipe
        }
        if let steps { c.job.steps = steps }
        if let epochs {
            c.job.epochs = epochs
            c.job.steps = nil
        }
        c = try gradientMethod.apply(to: c)
        if ephemeralPorts {
            c.cluster.coordinator.port = 0
            c.cluster.dataPorts = PortRange(first: 0)
        }
        return c
    }

    var runOptions: RunOptions {
        var r = RunOptions()
        r.allReduce = !noAllReduce
        r.bucketBytes = max(bucketKB, 1) * 1024
        r.threads = threads
        r.resume = resume
        r.warmupSteps = warmupSteps > 0 ? warmupSteps : nil
        r.tracePath = trace.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        return r
    }
}
