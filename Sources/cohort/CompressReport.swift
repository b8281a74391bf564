import ArgumentParser
import Config
import Datasets
import Foundation
import NN
import Training

#if canImport(Glibc)
    import Glibc
#endif

/// `cohort compress report`: the compression matrix (fp32, int8 post-training, int8 QAT, unstructured 90%,
/// structured half, a distilled 784-64-10 student beside the same student alone) on each workload, measured as
/// `cohort eval` measures a file, written as CSV, a README-ready markdown table and a PNG of accuracy against size.
struct CompressReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Train and compress W1/W2 every way Cohort can; write a CSV, a markdown table and an accuracy-vs-size PNG.")

    @Option(help: "Workloads (recipes), e.g. W1,W2.", transform: CommaList.parse) var workloads = CommaList<String>(["W1", "W2"])
    @Option(help: "Train the fp32 models for this many epochs instead of the recipe's.") var epochs: Int?
    @Option(help: "Train the fp32 models for this many steps instead of the recipe's.") var steps: Int?
    @Option(help: "QAT and pruning fine-tuning steps (default: a tenth of the training steps, at least one epoch).")
    var fineTuneSteps: Int?
    @Option(help: "fashion-mnist | synthetic") var dataset: String?
    @Option(help: "Fashion-MNIST folder (default: the standard one).") var dataPath: String?
    @Option(help: "Use at most N training examples.") var maxTrainExamples: Int?
    @Option(help: "Use at most N test examples.") var maxTestExamples: Int?
    @Option(help: "Seconds of timed calls per batch size, model and round.") var seconds = 1.0
    @Option(help: "Timing rounds (the models take turns in each; the table gives the medians).") var rounds = 3
    @Option(help: "Training threads (timing always uses one, as cohort eval does).") var threads = 1
    @Flag(help: "Leave out the 784-64-10 students (alone and distilled).") var noDistillation = false
    @Flag(help: "No PNG (scripts/plot_compression.py needs python3 and matplotlib).") var noPlot = false
    @Option(help: "A lock file held (flock) while timing, so no other benchmark runs at the same time.") var benchLock: String?
    @Option(help: "Folder for the model files, compression-report.csv/.md and the PNG.") var out = "compression-report"

    func validate() throws {
        for w in workloads.items where JobSpec.recipe(named: w) == nil || ["W3", "W4"].contains(w.uppercased()) {
            throw ValidationError("--workloads: \(w) is not an MLP recipe (expected W1 or W2)")
        }
        if let epochs, epochs < 1 { throw ValidationError("--epochs \(epochs): expected ≥ 1") }
        if let steps, steps < 1 { throw ValidationError("--steps \(steps): expected ≥ 1") }
        if let fineTuneSteps, fineTuneSteps < 3 { throw ValidationError("--fine-tune-steps \(fineTuneSteps): expected ≥ 3") }
        guard seconds > 0 && seconds <= 600 else { throw ValidationError("--seconds \(seconds): expected (0, 600]") }
        guard rounds >= 1 && rounds <= 100 else { throw ValidationError("--rounds \(rounds): expected 1…100") }
        guard threads >= 1 else { throw ValidationError("--threads \(threads): expected ≥ 1") }
    }

    func run() throws {
        do { try report() } catch let e as ValidationError { throw e } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }

    private func report() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var entries: [(CompressionMatrix.Entry, JobData)] = []
        for w in workloads.items {
            let job = try jobSpec(w)
            let data = try job.loadData()
            let plan = job.epochPlan(exampleCount: data.train.count)
            let trainingSteps = job.steps ?? job.epochs * plan.stepsPerEpoch
            let matrix = CompressionMatrix(
                job: job, data: data, directory: out,
                fineTuneSteps: fineTuneSteps ?? max(3, trainingSteps / 10, plan.stepsPerEpoch),
                distill: !noDistillation, threads: threads, log: { printError("report: \($0)") })
            entries += try matrix.run().map { ($0, data) }
        }
        printError("report: timing \(entries.count) models\(benchLock.map { " (holding \($0))" } ?? "")")
        let rows = try withLock { try measure(entries) }
        let table = CompressionTable(rows: rows)
        let csv = (out as NSString).appendingPathComponent("compression-report.csv")
        let markdown = (out as NSString).appendingPathComponent("compression-report.md")
        try table.csv.write(toFile: csv, atomically: true, encoding: .utf8)
        try table.markdown.write(toFile: markdown, atomically: true, encoding: .utf8)
        print(table.markdown, terminator: "")
        print("→ \(csv), \(markdown)")
        if !noPlot {
            let png = (out as NSString).appendingPathComponent("compression-accuracy-size.png")
            if plotScript("plot_compression.py", arguments: [csv, png]) { print("→ \(png)") }
        }
    }

    /// The recipe with this command's overrides.
    private func jobSpec(_ workload: String) throws -> JobSpec {
        guard var job = JobSpec.recipe(named: workload) else { throw ValidationError("--workloads: no recipe \(workload)") }
        if let epochs {
            job.epochs = epochs
            job.steps = nil
        }
        if let steps { job.steps = steps }
        if let dataset { job.data.dataset = dataset }
        if let dataPath { job.data.path = dataPath }
        if let maxTrainExamples { job.data.maxTrainExamples = maxTrainExamples }
        if let maxTestExamples { job.data.maxTestExamples = maxTestExamples }
        try job.validate()
        return job
    }

    /// `cohort eval`'s figures of each file: test accuracy, bytes, and the medians over `--rounds` rounds of its
    /// batch-1 latency and batch-128 throughput, the models taking turns in every round (so a slow spell of a shared
    /// machine falls on all of them, not on one).
    private func measure(_ entries: [(CompressionMatrix.Entry, JobData)]) throws -> [CompressionTable.Row] {
        let files = try entries.map { try ModelFile.load($0.0.path) }
        let benches = zip(files, entries).map { InferenceBenchmark(model: $0.model, test: $1.1.test) }
        var timings = [[(one: InferenceBenchmark.Timing, many: InferenceBenchmark.Timing)]](repeating: [], count: files.count)
        for _ in 0..<rounds {
            for (k, bench) in benches.enumerated() {
                timings[k].append((bench.time(batch: 1, seconds: seconds), bench.time(batch: 128, seconds: seconds)))
            }
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        return zip(zip(entries, files), zip(benches, timings)).map { pair, measured in
            let ((e, _), file) = pair
            let (bench, t) = measured
            return CompressionTable.Row(
                workload: e.workload, method: e.method, format: file.format.rawValue,
                layers: file.widths.map(String.init).joined(separator: "-"), nonzeroWeights: nonzeroWeights(file.model),
                bytes: file.bytes, accuracy: bench.accuracy(), latencyMs: median(t.map(\.one.medianMs)),
                p99Ms: median(t.map(\.one.p99Ms)), samplesPerSecond: median(t.map(\.many.samplesPerSecond)), note: e.note)
        }
    }

    /// Nonzero Dense weights (fp32 kernels, or int8 values).
    private func nonzeroWeights(_ model: Sequential) -> Int {
        model.layers.reduce(0) { n, layer in
            if let d = layer as? Dense { return n + d.kernel.array.filter { $0 != 0 }.count }
            if let q = layer as? QuantizedDense { return n + q.weights.values.filter { $0 != 0 }.count }
            return n
        }
    }

    /// Runs `body` holding an exclusive flock on `--bench-lock` (none when not given).
    private func withLock<T>(_ body: () throws -> T) throws -> T {
        guard let benchLock else { return try body() }
        let fd = open(benchLock, O_RDWR | O_CREAT, 0o666)
        guard fd >= 0 else { throw CohortFailure("--bench-lock \(benchLock): cannot open (errno \(errno))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw CohortFailure("--bench-lock \(benchLock): flock failed (errno \(errno))") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// Runs scripts/NAME with python3 (found as `cohort plot` finds its script); a missing python, matplotlib or
/// script is a notice on stderr, never a failure of the command that measured.
func plotScript(_ name: String, arguments: [String]) -> Bool {
    guard let script = RunPlots.script(named: name) else {
        printError("scripts/\(name) not found; no plot")
        return false
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", script] + arguments
    p.standardOutput = FileHandle.standardError
    do {
        try p.run()
        p.waitUntilExit()
    } catch {
        printError("cannot run python3; no plot")
        return false
    }
    if p.terminationStatus != 0 { printError("scripts/\(name) failed (status \(p.terminationStatus)); no plot") }
    return p.terminationStatus == 0
}
