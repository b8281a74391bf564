import ArgumentParser
import Config
import Foundation
import NN
import Runtime
import Tensors
import Training

/// `cohort bench roofline`: this machine's roofs (FMA peak per kernel path, triad bandwidth from L1, L2 and DRAM)
/// and every operation of one W1/W2 training step placed against them (Williams et al., 2009), with a self-check
/// that the operations add up to the measured step.
struct BenchRoofline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roofline", abstract: "Roofs of this CPU and the roofline of one training step's operations.")

    @Option(help: "W1 (784-256-128-10, batch 128) or W2 (784-1024-1024-1024-10, batch 256).") var workload = "W1"
    @Option(help: "Timed steps (medians are reported).") var reps = 30
    @Option(help: "Where the CSV and PNG go (default: no files).") var plotDir: String?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard JobSpec.recipe(named: workload)?.model.layers.count ?? 0 >= 2, ["W1", "W2"].contains(workload.uppercased())
        else { throw ValidationError("--workload \(workload): expected W1 or W2") }
        guard reps >= 5 else { throw ValidationError("--reps must be at least 5") }
    }

    func run() throws {
        guard let job = JobSpec.recipe(named: workload) else { return }
        let roofs = RooflineRoofs.measure()
        let profiler = MLPStepProfiler(widths: job.model.layers, batch: job.batchSize)
        let (opTimes, step) = profile(profiler)
        let ops = MLPStepOps.ops(widths: job.model.layers, batch: job.batchSize)
        let footprints = FootprintRoofs()
        var rows = zip(ops, opTimes).map {
            RooflineRow(op: $0.0, seconds: $0.1, roofs: roofs, bandwidth: footprints.bandwidth(forBytes: $0.0.footprint))
        }
        // An op short of its roof runs again on its own, its data hot: the measured half of its note.
        for i in rows.indices where rows[i].fractionOfRoof < rows[i].target {
            rows[i].aloneSeconds = profiler.isolatedSeconds(op: i)
        }
        let sum = opTimes.reduce(0, +)
        let deviation = abs(sum - step) / step
        if output.json {
            for r in rows { print(r.jsonLine) }
            print(
                orderedJSON([
                    ("bench", .string("roofline")), ("summary", .bool(true)), ("step_s", .fixed(step, digits: 6)),
                    ("ops_sum_s", .fixed(sum, digits: 6)), ("peak_gflops", .fixed(roofs.peak, digits: 2)),
                    ("dram_gbps", .fixed(roofs.dram, digits: 2)),
                ]))
        } else {
            printTable(rows, roofs: roofs, step: step, sum: sum)
        }
        if let plotDir { try writePlot(rows, roofs: roofs, directory: plotDir) }
        let verdict = String(
            format: "self-check: operations sum to %.3f ms, the measured step is %.3f ms (%.1f%% apart; limit 5%%)", sum * 1e3,
            step * 1e3, deviation * 100)
        FileHandle.standardError.write(Data("\(verdict)\n".utf8))
        if deviation > 0.05 { throw CohortFailure("bench roofline: \(verdict)") }
    }

    /// Median seconds of each op, and the median plain step, interleaved so both see the same machine.
    func profile(_ p: MLPStepProfiler) -> ([Double], Double) {
        for _ in 0..<5 {
            p.step()
            _ = p.timedStep()
        }
        var opSamples: [[Double]] = []
        var steps: [Double] = []
        for _ in 0..<reps {
            opSamples.append(p.timedStep())
            let t0 = DispatchTime.now().uptimeNanoseconds
            p.step()
            steps.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        let median = { (xs: [Double]) in xs.sorted()[xs.count / 2] }
        let ops = (0..<(opSamples.first?.count ?? 0)).map { i in median(opSamples.map { $0[i] }) }
        return (ops, median(steps))
    }

    func printTable(_ rows: [RooflineRow], roofs: RooflineRoofs, step: Double, sum: Double) {
        print(roofs.summary)
        print("memory roofs: the triad at each op's own footprint (GB/s column), within the level it fits in")
        print(
            "op                    time ms      MFLOP       KB  FLOP/B   GFLOP/s    GB/s  roof GF/s  of roof  bound")
        for r in rows {
            print(
                r.op.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(
                        format: " %8.4f %10.2f %8.1f %7.2f %9.2f %7.1f %10.2f %7.1f%%  %@ (%@)%@", r.seconds * 1e3,
                        r.op.flops / 1e6, r.op.bytes / 1e3, r.op.intensity, r.attained, r.bandwidth, r.roof,
                        r.fractionOfRoof * 100, r.bound, r.level, r.shortfall.map { ": \($0)" } ?? ""))
        }
        print("all-reduce: none in a one-process step (its cost: cohort bench allreduce, bench scaling)")
        print(String(format: "step %.3f ms, operations sum %.3f ms", step * 1e3, sum * 1e3))
    }

    func writePlot(_ rows: [RooflineRow], roofs: RooflineRoofs, directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let csv = (directory as NSString).appendingPathComponent("roofline-\(workload.uppercased()).csv")
        var lines = ["kind,name,seconds,flops,bytes,intensity,gflops,roof"]
        lines += roofs.csvRows
        lines += rows.map {
            "op,\($0.op.name),\($0.seconds),\($0.op.flops),\($0.op.bytes),\($0.op.intensity),\($0.attained),\($0.roof)"
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let png = (directory as NSString).appendingPathComponent("roofline-\(workload.uppercased()).png")
        if runPlotScript("plot_roofline.py", csv: csv, png: png), !output.json { print("plot: \(png)") }
    }
}

/// One op against its roof: the roof is min(peak, intensity × bandwidth of the level its bytes fit in).
struct RooflineRow {
    let op: StepOp
    let seconds: Double
    let attained: Double
    let roof: Double
    let bound: String
    let level: String
    let bandwidth: Double
    /// Its median time run again and again on its own buffers (data hot in cache), when it was measured.
    var aloneSeconds: Double?
    /// The fraction of its roof below which it gets a note: issue 15's 80% for a GEMM, 60% for the rest.
    var target: Double { op.gemm != nil ? 0.8 : 0.6 }

    /// `bandwidth`: the memory roof at this op's footprint (`FootprintRoofs`).
    init(op: StepOp, seconds: Double, roofs: RooflineRoofs, bandwidth: Double) {
        self.op = op
        self.seconds = seconds
        attained = seconds > 0 ? op.flops / seconds / 1e9 : 0
        level = roofs.level(forBytes: op.footprint).0
        self.bandwidth = bandwidth
        let memoryRoof = op.intensity * bandwidth
        roof = min(roofs.peak, memoryRoof)
        bound = memoryRoof < roofs.peak ? "memory" : "compute"
    }

    /// Attained against the roof; for an op with no FLOPs (a copy), bytes per second against the bandwidth.
    var fractionOfRoof: Double {
        if op.flops == 0 { return seconds > 0 && bandwidth > 0 ? op.bytes / seconds / 1e9 / bandwidth : 0 }
        return roof > 0 ? attained / roof : 0
    }

    /// The fraction of its roof it reaches alone (`aloneSeconds`), nil when not measured.
    var aloneFraction: Double? {
        guard let alone = aloneSeconds, alone > 0 else { return nil }
        return fractionOfRoof * seconds / alone
    }

    /// Why an op other than a GEMM sits below 60% of its roof (or above it); nil when it is within them. The cause
    /// comes from running the op alone with its data hot (`aloneSeconds`): there it meets the roof (so in the step
    /// its data came from farther away than its footprint says), or it does not (so the loop itself is short).
    var shortfall: String? {
        if let gemm = op.gemm { return gemmShortfall(gemm) }
        if fractionOfRoof > 1.1 {
            return "above the roof: part of its data is still in cache from the ops before it (the triad's is not)"
        }
        guard fractionOfRoof < 0.6 else { return nil }
        if op.name == "loss" { return "exp and log per logit, uncounted as FLOPs, bound it rather than its bytes" }
        guard let alone = aloneFraction, let aloneSeconds else { return "below 60% of its roof, not measured alone" }
        if op.name.hasSuffix("fwd_bias"), aloneSeconds >= 2e-6 {
            // Every line it writes is first read (write-allocate): 8 bytes move for the 4 counted, against the
            // triad's 16 for 12, so two thirds of the triad's rate is its ceiling.
            return String(
                format:
                    "alone with its data hot %.0f%% (%.2f µs) of a ceiling of 67%%: it only writes, and each line is read before it is written, which its bytes do not count",
                alone * 100, aloneSeconds * 1e6)
        }
        if alone >= 0.6 {
            return String(
                format: "alone with its data hot %.0f%% (%.2f µs): in the step its data was evicted by the ops before it",
                alone * 100, aloneSeconds * 1e6)
        }
        if aloneSeconds < 2e-6 {
            return String(
                format: "alone with its data hot still %.0f%% (%.2f µs): at this size the call's fixed cost sets its time",
                alone * 100, aloneSeconds * 1e6)
        }
        return String(
            format: "alone with its data hot still %.0f%% (%.2f µs): its loop, not the memory, bounds it%@", alone * 100,
            aloneSeconds * 1e6, loopNote)
    }

    /// Why a GEMM sits below 80% of the compute roof: its shape where the shape explains it (a C a few columns wide,
    /// or a k of a few steps), and its time alone with its operands hot (a forward GEMM adds to its bias, so it is
    /// not rerun): near the roof alone means the step's other ops had evicted its operands.
    private func gemmShortfall(_ s: GEMMDims) -> String? {
        guard fractionOfRoof < target else { return nil }
        var why: [String] = []
        if s.n <= sgemmNarrowMaxColumns {
            why.append(
                s.aTransposed
                    ? "C is \(s.n) columns wide: its tile runs along C's long side and is stored lane by lane, transposed"
                    : "C is \(s.n) columns wide: dot products summed across lanes, B copied transposed first")
        }
        if s.k <= 16 {
            why.append(
                String(
                    format: "k = %d: %d FMAs per output, so writing its %.2f MiB output bounds it", s.k, s.k,
                    Double(s.m * s.n * 4) / 1_048_576))
        }
        if let alone = aloneFraction, let aloneSeconds {
            let evicted = alone >= target ? ": in the step its operands came from farther away" : ""
            why.append(String(format: "alone with its operands hot %.0f%% (%.2f µs)%@", alone * 100, aloneSeconds * 1e6, evicted))
        }
        return why.isEmpty ? nil : why.joined(separator: "; ")
    }

    /// What the loop of a known op does that the triad does not.
    private var loopNote: String {
        if op.name.hasSuffix("bias_grad") { return " (column sums: a pass over the output's columns per four rows)" }
        return ""
    }

    var jsonLine: String {
        orderedJSON(
            [
                ("bench", .string("roofline")), ("op", .string(op.name)), ("seconds", .fixed(seconds, digits: 9)),
                ("flops", .fixed(op.flops, digits: 0)), ("bytes", .fixed(op.bytes, digits: 0)),
                ("intensity", .fixed(op.intensity, digits: 4)), ("attained_gflops", .fixed(attained, digits: 3)),
                ("roof_gflops", .fixed(roof, digits: 3)), ("bound", .string(bound)),
                ("bandwidth_gbps", .fixed(bandwidth, digits: 2)), ("level", .string(level)),
                ("of_roof", .fixed(fractionOfRoof, digits: 4)),
            ] + (aloneFraction.map { [("alone_of_roof", BenchLine.Value.fixed($0, digits: 4))] } ?? [])
                + (shortfall.map { [("note", BenchLine.Value.string($0))] } ?? []))
    }
}

/// A JSON object with its keys in the given order (the issue's), each value written by `JSONLine`.
func orderedJSON(_ fields: [(String, BenchLine.Value)]) -> String {
    let parts = fields.map { name, value in
        "\"\(name)\":" + ((try? JSONLine.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null")
    }
    return "{" + parts.joined(separator: ",") + "}"
}
