import ArgumentParser
import Config
import Foundation
import Runtime
import Training

/// `cohort bench train`: the median of repeated throughput runs of a workload's training step.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training throughput in samples/s (data loading excluded; median of repeated runs).")

    @Option(help: "W1 or W2.") var workload: String = "W1"
    @Option(help: "GEMM threads.") var threads: Int = 1
    @Option(help: "Timed runs (default: 5 for W1, 3 for W2).") var runs: Int?
    @Option(help: "Timed steps per run (default: 400 for W1, the recipe's 200 for W2).") var steps: Int?
    @Option(help: "Untimed warm-up steps per run.") var warmup: Int = 20
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard let job = JobSpec.recipe(named: workload) else {
            throw ValidationError("--workload: expected W1 or W2, got \"\(workload)\"")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        let name = job.workload!
        let runs = self.runs ?? (name == "W1" ? 5 : 3)
        let steps = self.steps ?? job.steps ?? 400
        guard runs >= 1, steps >= 1, warmup >= 0 else { throw ValidationError("--runs and --steps must be ≥ 1, --warmup ≥ 0") }
        let bench = TrainingBenchmark(job: job, threads: threads, warmupSteps: warmup, steps: steps)
        var results: [Double] = []
        var shares: [Double] = []
        for r in 0..<runs {
            let result = try bench.run(seed: UInt64(r + 1))
            results.append(result.samplesPerSecond)
            shares.append(result.cpuShare)
            if !output.json {
                FileHandle.standardError.write(
                    Data(
                        String(
                            format: "run %d: %.0f samples/s (CPU share %.2f)\n",
                            r + 1, result.samplesPerSecond, result.cpuShare
                        ).utf8))
            }
        }
        let share = shares.sorted()[shares.count / 2]
        let sorted = results.sorted()
        let median =
            sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        if output.json {
            print(
                BenchLine([
                    ("bench", .string("train")), ("workload", .string(name)), ("threads", .int(threads)),
                    ("samples_per_s", .fixed(median, digits: 1)), ("batch", .int(job.batchSize)), ("steps", .int(steps)),
                    ("runs", .fixedList(results, digits: 1)), ("cpu_share", .fixed(share, digits: 2)),
                ]).text)
        } else {
            print(
                String(
                    format:
                        "train %@ (batch %d, %d steps × %d runs, %d thread(s)): median %.0f samples/s (min %.0f, max %.0f; CPU share %.2f)",
                    name, job.batchSize, steps, runs, threads, median, sorted.first!, sorted.last!, share))
        }
    }
}
