import ArgumentParser
import Collectives
import Config
import Foundation
import Observability
import Parallel
import Runtime
import Training

/// `cohort bench scaling [cluster.yaml] --workers 1,2,4`: the same job (same GLOBAL batch) at each worker count,
/// with the gradient all-reduce and again without it (the compute-only ceiling), timed over steady-state steps
/// after a warm-up; then the α–β model of the ring all-reduce, measured between rank processes over tcp at the
/// gradient's size, predicts the step time for 1…1024 workers (see `ScalingPredictor`).
struct BenchScaling: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling", abstract: "Data-parallel speedup at several worker counts, and its α–β prediction.",
        discussion: """
            Every run uses OS-chosen ports, writes no checkpoint or metrics file, and is timed over the steps after \
            --warmup. --bandwidth/--latency-us replace the measured α–β values in the prediction.
            """)

    @Argument(help: "The cluster file (its job, hosts and timeouts).") var config: String = "cluster.yaml"
    @Option(help: "Swap in a recipe of `cohort train` (W1 | W2 | W3 | W4).") var workload: String?
    @Option(help: "Comma-separated worker counts.", transform: CommaList.parse) var workers = CommaList<Int>([1, 2, 4])
    @Option(help: "Timed optimizer steps per run (default: the job's steps, else 200).") var steps: Int?
    @Option(help: "Untimed steps before them (start-up, page faults, socket warm-up).") var warmup: Int = 20
    @Option(help: "Runs per worker count, in rounds; the median run counts.") var repeats: Int = 1
    @Option(help: "GEMM threads per worker.") var threads: Int = 1
    @Option(name: .customLong("bucket-kb"), help: "Gradient all-reduce bucket size in KiB (as launch).") var bucketKB: Int =
        RunOptions().bucketBytes / 1024
    @Option(help: "Link bandwidth for the prediction, GB/s (default: measured here).") var bandwidth: Double?
    @Option(name: .customLong("latency-us"), help: "Per-message latency for the prediction, µs (default: measured here).")
    var latencyUs: Double?
    @Option(help: "Share of backward that hides the all-reduce in the prediction, 0…1.") var overlap: Double = 0
    @Option(name: .customLong("max-workers"), help: "Predict up to this many workers.") var maxWorkers: Int = 1024
    @Option(help: "Write the measured and predicted rows here as CSV.") var csv: String?
    @Option(name: .customLong("plot-dir"), help: "Write the speedup plot (PNG) here (default: output.plot_directory).")
    var plotDir: String?
    @OptionGroup var gradientMethod: GradientMethodOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (try? workerCounts()) != nil else {
            throw ValidationError("--workers: expected comma-separated counts ≥ 1, got \(workers)")
        }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative, got \(warmup)") }
        if let bandwidth, !(bandwidth > 0) { throw ValidationError("--bandwidth must be positive GB/s, got \(bandwidth)") }
        if let latencyUs, !(latencyUs >= 0) { throw ValidationError("--latency-us must not be negative, got \(latencyUs)") }
        guard (0...1).contains(overlap) else { throw ValidationError("--overlap must be within 0…1, got \(overlap)") }
        guard maxWorkers >= 1 else { throw ValidationError("--max-workers must be at least 1, got \(maxWorkers)") }
    }

    func workerCounts() throws -> [Int] {
        let counts = workers.items
        if let bad = counts.first(where: { $0 < 1 }) { throw ValidationError("--workers: each count must be ≥ 1, got \(bad)") }
        return Array(Set(counts)).sorted()
    }

    func run() throws {
        let base = try baseCluster()
        let name = base.job.workload ?? "custom"
        let counts = try workerCounts()
        let model = try base.job.makeModel()
        let gradientBytes = model.parameters.count * MemoryLayout<Float>.stride
        let buckets = GradientBuckets(model: model, bucketBytes: max(bucketKB, 1) * 1024, communicator: nil).buckets
        if !output.json {
            print(
                "scaling  workload=\(name)  global batch \(base.job.batchSize)  \(timedSteps(base)) timed steps after \(warmup) warm-up  threads \(threads)"
            )
            print(String(format: "gradient %.2f MB in %d bucket(s)", Double(gradientBytes) / 1e6, buckets.count))
            let method = MethodWireBytes(
                gradient: base.parallelism.gradient, sync: base.parallelism.sync, model: model,
                bucketCounts: buckets.map(\.count))
            print(
                String(format: "method %@: %.0f bytes per rank per step at 2 workers", method.label, method.perRank(workers: 2)))
        }
        // α–β with 2 ranks (the link; the default for counts not measured), and with N ranks at each measured N.
        let bucketBytes = buckets.map { $0.count * MemoryLayout<Float>.stride }
        var fits: [Int: AlphaBetaModel] = [:]
        for n in Set([2] + counts.filter { $0 >= 2 }).sorted() {
            fits[n] = try alphaBetaModel(ranks: n, gradientBytes: gradientBytes, bucketBytes: bucketBytes)
        }
        guard let alphaBeta = fits[2] else { throw RuntimeError.invalid("bench scaling: no 2-rank α–β fit") }
        let measured = try measure(base, counts: counts)
        var predictor = ScalingPredictor(
            model: alphaBeta, gradientBytes: Double(gradientBytes), buckets: buckets.count,
            globalBatch: base.job.batchSize,
            measuredCompute: Dictionary(uniqueKeysWithValues: measured.map { ($0.workers, $0.medianComputePerStep) }),
            overlap: overlap, modelsByWorkers: fits)
        predictor.method = MethodWireBytes(
            gradient: base.parallelism.gradient, sync: base.parallelism.sync, model: model,
            bucketCounts: buckets.map(\.count))
        let report = ScalingBenchReport(
            workload: name, measured: measured, predictor: predictor,
            predictedCounts: ScalingPredictor.powersOfTwo(upTo: maxWorkers))
        if output.json {
            printJSON(report, fits: fits, base: base, gradientBytes: gradientBytes, buckets: buckets.count)
        } else {
            printTable(
                measured, predictor: predictor, speedup: report.speedup, predictedCounts: report.predictedCounts,
                alphaBeta: alphaBeta)
        }
        try writeOutputs(report.csvRows(), workload: name, plotDirectory: plotDir ?? base.output.plotDirectory)
    }

    func timedSteps(_ base: ClusterConfig) -> Int { (base.job.steps ?? warmup) - warmup }

    /// Rounds over all counts, so a burst of load elsewhere spreads over the counts instead of hitting one; each
    /// count keeps its median run and median ceiling.
    func measure(_ base: ClusterConfig, counts: [Int]) throws -> [ScalingMeasurement] {
        var runs: [Int: [StepWindow]] = [:]
        var ceilings: [Int: [StepWindow]] = [:]
        for round in 0..<repeats {
            for n in counts {
                if !output.json {
                    printError("bench scaling: \(n) worker(s)\(repeats > 1 ? ", round \(round + 1) of \(repeats)" : "")…")
                }
                let run = try steadyRun(base, workers: n, allReduce: true)
                runs[n, default: []].append(run)
                // One worker does no all-reduce, so its run is its own ceiling.
                ceilings[n, default: []].append(n == 1 ? run : try steadyRun(base, workers: n, allReduce: false))
            }
        }
        // Runs by their median step; ceilings by their mean step (see `ScalingMeasurement.ceilingStepSeconds`).
        let byMedianStep = { (a: StepWindow, b: StepWindow) in
            ScalingMeasurement.stepSeconds(a) < ScalingMeasurement.stepSeconds(b)
        }
        let byMeanStep = { (a: StepWindow, b: StepWindow) in a.seconds / Double(a.steps) < b.seconds / Double(b.steps) }
        return counts.map { n in
            ScalingMeasurement(
                workers: n, run: (runs[n] ?? []).sorted(by: byMedianStep)[repeats / 2],
                ceiling: (ceilings[n] ?? []).sorted(by: byMeanStep)[repeats / 2])
        }
    }

    func printJSON(
        _ report: ScalingBenchReport, fits: [Int: AlphaBetaModel], base: ClusterConfig, gradientBytes: Int, buckets: Int
    ) {
        for (ranks, fit) in fits.sorted(by: { $0.key < $1.key }) {
            print(
                BenchLine([
                    ("bench", .string("scaling")), ("kind", .string("alpha_beta")), ("workload", .string(report.workload)),
                    ("ranks", .int(ranks)),
                    ("latency_us", fixed(fit.latencyMicroseconds, 2)), ("bandwidth_gbps", fixed(fit.bandwidthGBps, 4)),
                    ("gradient_bytes", .int(gradientBytes)), ("buckets", .int(buckets)),
                    ("global_batch", .int(base.job.batchSize)), ("steps", .int(timedSteps(base))), ("warmup", .int(warmup)),
                    ("overlap", fixed(overlap, 2)),
                ]).text)
        }
        for m in report.measured { print(report.measuredLine(m).text) }
        for n in report.predictedCounts { print(report.predictionLine(n).text) }
        flushOutput()
    }

    // MARK: runs

    /// The cluster every run starts from: the workload's recipe (keeping the file's data section), warm-up plus
    /// timed steps, ephemeral ports, and no checkpoint or metrics file.
    func baseCluster() throws -> ClusterConfig {
        var c = try loadClusterConfig(config)
        if let workload {
            guard var recipe = JobSpec.recipe(named: workload) else {
                throw ValidationError(
                    "--workload: expected one of \(JobSpec.workloadNames.joined(separator: ", ")), got \(workload)")
            }
            recipe.data = c.job.data
            c.job = recipe
        }
        c.job.steps = warmup + (steps ?? c.job.steps ?? 200)
        c.cluster.coordinator.port = 0
        c.cluster.dataPorts = PortRange(first: 0)
        c.checkpoint = nil
        c.output.metricsFile = nil
        return try gradientMethod.apply(to: c)
    }

    func steadyRun(_ base: ClusterConfig, workers n: Int, allReduce: Bool) throws -> StepWindow {
        var options = RunOptions()
        options.allReduce = allReduce
        options.bucketBytes = max(bucketKB, 1) * 1024
        options.threads = threads
        options.warmupSteps = warmup
        let cluster = try base.withWorkers(n)
        // output.http serves during the run as it would in `launch` (what its cost is measured with).
        var endpoint: StatusEndpoint?
        defer { endpoint?.stop() }
        let summary = try launchCluster(cluster, run: options, observer: ProgressDisplay(enabled: false)) {
            endpoint = try startStatusEndpoint(cluster, $0)
            return endpoint
        }
        guard let steady = summary.steady, steady.steps > 0, steady.seconds > 0 else {
            throw CohortFailure("bench scaling: the \(n)-worker run reported no steady-state steps")
        }
        return steady
    }

    /// α and β: both flags given → those; else measured with `ranks` rank processes over tcp or shared memory (ring, as the
    /// gradient buckets use it) at small and mid sizes, the bucket sizes and the whole gradient, then overridden
    /// per flag.
    func alphaBetaModel(ranks: Int, gradientBytes: Int, bucketBytes: [Int]) throws -> AlphaBetaModel {
        if let bandwidth, let latencyUs { return AlphaBetaModel(latencyMicroseconds: latencyUs, bandwidthGBps: bandwidth) }
        // 1 and 4 MiB too: a small gradient alone would leave the bandwidth term lost in the latency's noise.
        let sizes = Array(Set([4096, 65536, 1 << 20, 4 << 20, gradientBytes] + bucketBytes)).sorted()
        var samples: [(bytes: Double, seconds: Double)] = []
        // The workers of a local run pair up over shared memory unless COHORT_SHARED_MEMORY=0: measure that path.
        let shm = CommunicatorOptions().sharedMemory
        let path = shm ? "shm" : "tcp"
        let extra = RankLauncher.passthrough([
            ("sizes", sizes.map(String.init).joined(separator: ",")), ("algorithm", "ring"),
            ("reps", "5"), ("shared-memory", String(shm)),
        ])
        try RankLauncher.run(mode: "allreduce", ranks: ranks, transport: path, extra: extra, timeout: 120) { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let bytes = (o["bytes"] as? NSNumber)?.doubleValue, let us = (o["latency_us"] as? NSNumber)?.doubleValue
            else { return }
            samples.append((bytes, us * 1e-6))
            if !output.json { print(String(format: "  allreduce %d ranks %@ ring %10.0f B  %9.1f µs", ranks, path, bytes, us)) }
        }
        var m = try AlphaBetaModel.fit(workers: ranks, samples: samples)
        if let latencyUs { m.alpha = latencyUs * 1e-6 }
        if let bandwidth { m.beta = 1 / (bandwidth * 1e9) }
        if !output.json {
            print(
                String(
                    format: "alpha-beta at %d ranks: α %.1f µs, bandwidth %.3f GB/s%@", ranks, m.latencyMicroseconds,
                    m.bandwidthGBps,
                    latencyUs != nil || bandwidth != nil ? " (flags override the measurement)" : " (fit to the timings above)"))
        }
        return m
    }

    // MARK: output

    func printTable(
        _ measured: [ScalingMeasurement], predictor: ScalingPredictor, speedup: (ScalingMeasurement) -> Double,
        predictedCounts: [Int], alphaBeta: AlphaBetaModel
    ) {
        print("workers  samples/s  ceiling/s  speedup  effic.  step_ms  pred_ms   err  compute_ms  allreduce_ms  wait_ms")
        for m in measured {
            let p = predictor.stepSeconds(workers: m.workers)
            print(
                String(
                    format: "%7d  %9.1f  %9.1f  %6.2fx  %5.1f%%  %7.2f  %7.2f  %+4.0f%%  %10.2f  %12.2f  %7.2f",
                    m.workers, m.samplesPerSecond, m.ceilingSamplesPerSecond, speedup(m), 100 * speedup(m) / Double(m.workers),
                    m.stepSeconds * 1e3, p * 1e3, 100 * (p / m.stepSeconds - 1), m.computePerStep * 1e3,
                    m.allReducePerStep * 1e3, m.waitPerStep * 1e3))
        }
        print(
            String(
                format: "predicted (α %.1f µs, %.3f GB/s, overlap %.2f):", alphaBeta.latencyMicroseconds, alphaBeta.bandwidthGBps,
                predictor.overlap))
        print("workers  step_ms  compute_ms  allreduce_ms  samples/s  speedup  effic.")
        for n in predictedCounts {
            let s = predictor.speedup(workers: n)
            print(
                String(
                    format: "%7d  %7.2f  %10.3f  %12.3f  %9.1f  %6.2fx  %5.1f%%", n, predictor.stepSeconds(workers: n) * 1e3,
                    predictor.computeSeconds(workers: n) * 1e3, predictor.allReduceSeconds(workers: n) * 1e3,
                    predictor.samplesPerSecond(workers: n), s, 100 * s / Double(n)))
        }
    }

    /// The CSV (to --csv, else next to the plot) and the PNG from scripts/plot_scaling.py; a plot that cannot be
    /// made is a notice on stderr, not a failure of the benchmark.
    func writeOutputs(_ rows: [String], workload: String, plotDirectory: String?) throws {
        var csvPath = csv
        if csvPath == nil, let dir = plotDirectory {
            csvPath = (dir as NSString).appendingPathComponent("scaling-\(workload).csv")
        }
        guard let csvPath else { return }
        let dir = (csvPath as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        do {
            try ([ScalingCSV.header] + rows).joined(separator: "\n").appending("\n").write(
                toFile: csvPath, atomically: true, encoding: .utf8)
        } catch {
            throw CohortFailure("--csv: cannot write \(csvPath): \(error.localizedDescription)")
        }
        if !output.json { print("csv: \(csvPath)") }
        guard let plotDirectory else { return }
        guard let script = plotScript() else {
            printError("bench scaling: scripts/plot_scaling.py not found; no plot (the CSV is at \(csvPath))")
            return
        }
        try? FileManager.default.createDirectory(atPath: plotDirectory, withIntermediateDirectories: true)
        let png = (plotDirectory as NSString).appendingPathComponent("scaling-\(workload).png")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, csvPath, png]
        p.standardOutput = FileHandle.standardError
        do {
            try p.run()
            p.waitUntilExit()
        } catch {
            printError("bench scaling: cannot run python3 (\(error.localizedDescription)); no plot")
            return
        }
        if p.terminationStatus == 0 {
            if !output.json { print("plot: \(png)") }
        } else {
            printError("bench scaling: the plot script failed (status \(p.terminationStatus)); no plot")
        }
    }

    /// scripts/plot_scaling.py in the working directory or in a parent of this binary (.build/release/cohort).
    func plotScript() -> String? {
        let fm = FileManager.default
        var candidates = [fm.currentDirectoryPath]
        var dir = RankLauncher.executable().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.map { ($0 as NSString).appendingPathComponent("scripts/plot_scaling.py") }.first {
            fm.fileExists(atPath: $0)
        }
    }
}

/// A JSON number, or null where it is not finite.
private func fixed(_ x: Double, _ digits: Int) -> BenchLine.Value { .fixed(x, digits: digits) }

/// What `bench scaling` measured and predicted, as the rows of its CSV and JSON lines.
struct ScalingBenchReport {
    let workload: String
    let measured: [ScalingMeasurement]
    let predictor: ScalingPredictor
    let predictedCounts: [Int]

    /// Speedup over the first measured count, scaled to its worker count.
    func speedup(_ m: ScalingMeasurement) -> Double {
        guard let reference = measured.first else { return 0 }
        return m.samplesPerSecond / reference.samplesPerSecond * Double(reference.workers)
    }

    func ceilingSpeedup(_ m: ScalingMeasurement) -> Double {
        guard let reference = measured.first else { return 0 }
        return m.ceilingSamplesPerSecond / reference.samplesPerSecond * Double(reference.workers)
    }

    func csvRows() -> [String] {
        let rows = measured.map { m in
            ScalingCSV.row(
                [
                    m.samplesPerSecond, m.ceilingSamplesPerSecond, speedup(m), ceilingSpeedup(m),
                    speedup(m) / Double(m.workers), m.stepSeconds, predictor.stepSeconds(workers: m.workers),
                    m.computePerStep, m.allReducePerStep, m.waitPerStep, nil, nil,
                ],
                kind: "measured", workload: workload, workers: m.workers)
        }
        let p = predictor
        return rows
            + predictedCounts.map { n in
                ScalingCSV.row(
                    [
                        nil, nil, nil, nil, p.speedup(workers: n) / Double(n), nil, p.stepSeconds(workers: n),
                        p.computeSeconds(workers: n), p.allReduceSeconds(workers: n), nil, p.speedup(workers: n),
                        p.samplesPerSecond(workers: n),
                    ],
                    kind: "predicted", workload: workload, workers: n)
            }
    }

    func measuredLine(_ m: ScalingMeasurement) -> BenchLine {
        let p = predictor.stepSeconds(workers: m.workers)
        return BenchLine([
            ("bench", .string("scaling")), ("workload", .string(workload)), ("workers", .int(m.workers)),
            ("samples_per_s", fixed(m.samplesPerSecond, 1)),
            ("ceiling_samples_per_s", fixed(m.ceilingSamplesPerSecond, 1)),
            ("speedup", fixed(speedup(m), 3)), ("efficiency", fixed(speedup(m) / Double(m.workers), 3)),
            ("measured_step_s", fixed(m.stepSeconds, 9)), ("predicted_step_s", fixed(p, 9)),
            ("prediction_error", fixed(p / m.stepSeconds - 1, 3)),
            ("mean_step_s", fixed(m.meanStepSeconds, 9)), ("ceiling_step_s", fixed(m.ceilingStepSeconds, 9)),
            ("compute_s", fixed(m.computePerStep, 9)), ("median_compute_s", fixed(m.medianComputePerStep, 9)),
            ("allreduce_s", fixed(m.allReducePerStep, 9)), ("wait_s", fixed(m.waitPerStep, 9)),
            ("method", .string(predictor.method?.label ?? "fp32")),
            ("formula_bytes_per_step", fixed(predictor.method?.perRank(workers: m.workers) ?? .nan, 0)),
            ("kind", .string("measured")),
        ])
    }

    func predictionLine(_ n: Int) -> BenchLine {
        let p = predictor
        return BenchLine([
            ("bench", .string("scaling")), ("kind", .string("prediction")), ("workload", .string(workload)),
            ("workers", .int(n)),
            ("predicted_step_s", fixed(p.stepSeconds(workers: n), 9)),
            ("predicted_samples_per_s", fixed(p.samplesPerSecond(workers: n), 1)),
            ("predicted_speedup", fixed(p.speedup(workers: n), 3)),
            ("predicted_efficiency", fixed(p.speedup(workers: n) / Double(n), 3)),
            ("compute_s", fixed(p.computeSeconds(workers: n), 9)),
            ("allreduce_s", fixed(p.allReduceSeconds(workers: n), 9)),
            ("method", .string(p.method?.label ?? "fp32")),
        ])
    }
}
