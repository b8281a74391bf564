import ArgumentParser
import Config
import Foundation
import Parallel
import Runtime
import Training

/// `cohort bench pipeline [--json] [--simulate] [--csv FILE]`: for K stages × M micro-batches × both schedules, the
/// real stage workers run as threads of this process over inproc:// (one replica, a balanced 4-block model, a
/// barrier before each step). Reports step time, throughput, the measured bubble beside (K−1)/(M+K−1) and beside
/// the discrete-event simulator fed with the same run's per-stage forward/backward/transfer medians, the most
/// micro-batches a stage held, and bytes sent between stages. `--simulate` adds simulated-only rows for K and M
/// up to 64, with each stage as heavy as a measured K=2 stage. Defaults: width 1024, batch 2048, so that an op's
/// compute (≥ 5 ms at M = 16) dwarfs what a stage does per micro-batch besides its GEMMs — the last stage's
/// softmax over `width` classes, copying the arrived tensor in, the hand-off (at width 512, M = 16 these put
/// the measured bubble 0.01–0.05 above theory: 0.072–0.106 against 0.059 in seven runs).
struct BenchPipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "Pipeline schedules: step time, bubble, activation memory.")

    @Option(help: "Comma-separated stage counts.", transform: CommaList.parse) var stages = CommaList<Int>([1, 2, 4])
    @Option(help: "Comma-separated micro-batch counts.", transform: CommaList.parse)
    var microBatches = CommaList<Int>([1, 2, 4, 8, 16])
    @Option(help: "Comma-separated schedules (gpipe, 1f1b).", transform: CommaList.parse)
    var schedules = CommaList<PipelineSchedule>([.gpipe, .oneForwardOneBackward])
    @Option(help: "Global batch (rows per step).") var batch: Int = 2048
    @Option(help: "Width of the balanced model's four identical blocks.") var width: Int = 1024
    @Option(help: "Timed steps per configuration (medians reported).") var steps: Int = 8
    @Option(help: "Untimed warm-up steps per configuration.") var warmup: Int = 2
    @Option(help: "Input width of the model (default: the width, so every stage does the same work).")
    var inputWidth: Int?
    @Flag(help: "Also simulate K and M up to 64 from the measured stage costs.") var simulate = false
    @Option(help: "Write every record as CSV to this file.") var csv: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        let (ks, ms) = try checkedCounts()
        let job = PipelineBenchmark.balancedJob(width: width, batch: batch, inputWidth: inputWidth)
        let data = try job.loadData()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if !output.json {
            print(
                "pipeline  model \(job.model.layers)  batch \(batch)  stages as threads over inproc://  \(cores) cores  medians of \(steps) steps"
            )
            print(
                " K   M  schedule  step_ms  samples/s  bubble_meas  bubble_sim  bubble_theory  verdict  max_stashed  bytes/step")
        }
        var records: [PipelineBenchRecord] = []
        var k2Costs: [Int: [StageCosts]] = [:]
        for k in ks {
            for m in ms {
                for s in schedules.items {
                    let r = try PipelineBenchmark.measure(
                        job: job, data: data, stages: k, microBatches: m, schedule: s, warmup: warmup, steps: steps)
                    if k == 2 { k2Costs[m] = r.costs }
                    records.append(try report(r, stages: k, microBatches: m, schedule: s, cores: cores))
                }
            }
        }
        if simulate {
            // Each simulated stage costs what a measured K = 2 stage cost (the mean of the two) with M = 8.
            let base: [StageCosts] =
                try k2Costs[8]
                ?? PipelineBenchmark.measure(
                    job: job, data: data, stages: 2, microBatches: 8,
                    schedule: .oneForwardOneBackward, warmup: warmup, steps: steps
                ).costs
            records += try simulated(from: base, cores: cores)
        }
        if let csv { try writeCSV(records, to: csv) }
    }

    /// The stage and micro-batch counts, after checking every option.
    func checkedCounts() throws -> (stages: [Int], microBatches: [Int]) {
        func positive(_ list: CommaList<Int>, _ name: String) throws -> [Int] {
            guard list.items.allSatisfy({ $0 >= 1 }) else {
                throw ValidationError("--\(name): expected positive integers, got \"\(list)\"")
            }
            return list.items
        }
        let ks = try positive(stages, "stages")
        let ms = try positive(microBatches, "micro-batches")
        guard steps >= 1, warmup >= 0, batch >= 1, width >= 1 else {
            throw ValidationError("--steps ≥ 1, --warmup ≥ 0, --batch ≥ 1, --width ≥ 1")
        }
        guard let kMax = ks.max(), kMax <= 4 else {
            throw ValidationError(
                "--stages: the balanced model has 4 blocks, so at most 4 stages are measured (use --simulate beyond)")
        }
        for m in ms where batch / m < 1 { throw ValidationError("--batch \(batch) cannot feed \(m) micro-batches") }
        guard (inputWidth ?? 1) >= 1 else { throw ValidationError("--input-width must be positive") }
        return (ks, ms)
    }

    /// One measured configuration beside its simulation and theory, printed as a row or a JSON line.
    func report(
        _ r: PipelineMeasurement, stages k: Int, microBatches m: Int, schedule s: PipelineSchedule, cores: Int
    ) throws -> PipelineBenchRecord {
        let sim = try PipelineSimulator.simulate(s, microBatches: m, costs: r.costs)
        let theory = PipelineSimulator.theoreticalBubble(stages: k, microBatches: m)
        let bound = max(0.1 * theory, 0.02)
        let verdict =
            k > cores
            ? "shared" : (abs(r.bubble - theory) <= bound && abs(sim.bubble - r.bubble) <= bound ? "ok" : "OFF")
        let rec = PipelineBenchRecord(
            stages: k, microBatches: m, schedule: s.rawValue, simulated: false, cores: cores,
            stepSeconds: r.stepSeconds, pipelineSeconds: r.pipelineSeconds, samplesPerSecond: r.samplesPerSecond,
            bubbleMeasured: r.bubble, bubbleSimulated: sim.bubble, bubbleTheory: theory, verdict: verdict,
            maxStashed: r.maxStashed, bytesPerStep: r.bytesPerStep, simulatedStepSeconds: sim.makespan,
            forwardSeconds: r.costs.map(\.forward), backwardSeconds: r.costs.map(\.backward),
            sendActivationSeconds: r.costs.map(\.sendActivation), sendGradientSeconds: r.costs.map(\.sendGradient))
        if output.json {
            JSONLine.print(rec)
        } else {
            print(
                String(format: "%2d %3d  ", k, m) + pad(s.rawValue, 8)
                    + String(
                        format: " %8.2f %10.0f  %11.3f  %10.3f  %13.3f  ",
                        r.stepSeconds * 1e3, r.samplesPerSecond, r.bubble, sim.bubble, theory)
                    + pad(verdict, 7) + String(format: "  %11d  %10d", r.maxStashed, r.bytesPerStep))
        }
        flushOutput()
        return rec
    }

    /// K and M up to 64, every stage costing the mean of the measured `base` stages.
    func simulated(from base: [StageCosts], cores: Int) throws -> [PipelineBenchRecord] {
        guard let first = base.first, let last = base.last else { return [] }
        let f = base.map(\.forward).reduce(0, +) / Double(base.count)
        let b = base.map(\.backward).reduce(0, +) / Double(base.count)
        let (act, grad) = (first.sendActivation, last.sendGradient)
        if !output.json {
            print("simulated (per stage: forward \(fmt(f)) s, backward \(fmt(b)) s, transfer \(fmt(act))/\(fmt(grad)) s):")
        }
        var records: [PipelineBenchRecord] = []
        for k in [1, 2, 4, 8, 16, 32, 64] {
            for m in [1, 2, 4, 8, 16, 32, 64] {
                for s in schedules.items {
                    let costs = Array(
                        repeating: StageCosts(forward: f, backward: b, sendActivation: act, sendGradient: grad), count: k)
                    let sim = try PipelineSimulator.simulate(s, microBatches: m, costs: costs)
                    let theory = PipelineSimulator.theoreticalBubble(stages: k, microBatches: m)
                    let stashed = sim.maxStashed.max() ?? 0
                    let rec = PipelineBenchRecord(
                        stages: k, microBatches: m, schedule: s.rawValue, simulated: true, cores: cores,
                        stepSeconds: sim.makespan, bubbleSimulated: sim.bubble, bubbleTheory: theory, maxStashed: stashed)
                    records.append(rec)
                    if output.json {
                        JSONLine.print(rec)
                    } else {
                        print(
                            String(format: "%2d %3d  ", k, m) + pad(s.rawValue, 8)
                                + String(format: " %8.2f ", sim.makespan * 1e3)
                                + "         -            -" + String(format: "  %10.3f  %13.3f  ", sim.bubble, theory)
                                + pad("sim", 7) + String(format: "  %11d", stashed))
                    }
                }
            }
        }
        return records
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    private func fmt(_ x: Double) -> String { String(format: "%.2e", x) }

    private func writeCSV(_ records: [PipelineBenchRecord], to path: String) throws {
        var text = PipelineBenchRecord.csvHeader + "\n"
        for r in records { text += r.csvRow + "\n" }
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw CohortFailure("--csv: cannot write \(path): \(error.localizedDescription)")
        }
    }
}
