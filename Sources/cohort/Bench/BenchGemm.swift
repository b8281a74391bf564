import ArgumentParser
import Foundation
import Tensors

/// `cohort bench gemm`: sgemm GFLOP/s on square and MLP-training shapes, each result checked against the
/// reference before it is timed, each figure also given as a fraction of this CPU's measured FMA peak.
struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "GEMM GFLOP/s against the measured FMA peak.")

    @Option(name: .long, help: "Threads per sgemm call.")
    var threads = 1

    @Option(name: .long, help: "Micro-kernel: avx512, avx2 or portable (default: the best this CPU runs, or COHORT_GEMM_KERNEL).")
    var kernel: String?

    @Option(name: .long, help: "Timed samples per shape (the median is reported).")
    var reps = 7

    @Option(name: .long, help: "Only the shapes with these labels (repeatable; default: all).")
    var shape: [String] = []

    @Flag(
        name: .long,
        help:
            "Time with the calling thread's CPU clock instead of the wall clock: for tuning on a shared machine, where other processes take turns on the core (1 thread only)."
    )
    var cpuTime = false

    @Option(
        name: .long,
        help: "fp32 (default), int8 (the int8 GEMM on the forward shapes), or both (each shape's fp32 line, then its int8 lines)."
    )
    var dtype = "fp32"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "OpenBLAS's shared library (or numpy: the one numpy bundles), timed pair by pair with Cohort on the same operands.",
            discussion:
                "Each shape's line then gives OpenBLAS's rate and the median of the pairs' ratios. OPENBLAS_CORETYPE forces its kernel."
        ))
    var besideOpenblas: String?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard !cpuTime || threads == 1 else { throw ValidationError("--cpu-time measures one thread; use it with --threads 1") }
        guard ["fp32", "int8", "both"].contains(dtype) else {
            throw ValidationError("--dtype \(dtype): expected fp32, int8 or both")
        }
        guard dtype == "fp32" || threads == 1 else { throw ValidationError("--dtype \(dtype): the int8 GEMM runs one thread") }
        guard besideOpenblas == nil || dtype == "fp32" else { throw ValidationError("--beside-openblas times fp32 only") }
        guard reps >= 5 else { throw ValidationError("--reps must be at least 5") }
        let labels = Set(GemmBenchShape.all.map(\.label))
        if let unknown = shape.first(where: { !labels.contains($0) }) {
            throw ValidationError(
                "--shape \(unknown): expected one of \(GemmBenchShape.all.map(\.label).joined(separator: ", "))")
        }
        if let kernel {
            guard let k = GEMMKernel(rawValue: kernel) else {
                throw ValidationError("--kernel \(kernel): expected avx512, avx2 or portable")
            }
            guard k.isSupported else {
                throw ValidationError(
                    "--kernel \(kernel): this CPU supports only \(GEMMKernel.supported.map(\.rawValue).joined(separator: ", "))")
            }
        }
    }

    func run() throws {
        let chosen = kernel.flatMap(GEMMKernel.init(rawValue:)) ?? .selected
        if dtype != "fp32" { return try runWithInt8(chosen) }
        // The peak is measured before and after the shapes and the higher kept, so one busy moment on a shared
        // machine does not inflate every fraction.
        let peakBefore = measureFMAPeak(kernel: chosen, threads: threads, cpuTime: cpuTime)
        let openblas = try besideOpenblas.map { try OpenBLASGemm.load($0, threads: threads) }
        let clock = cpuTime ? threadCPUSeconds : wallSeconds
        var results: [(GemmBenchShape, GemmBenchShape.Result, (blas: Double, ratio: Double)?)] = []
        for shape in GemmBenchShape.all where self.shape.isEmpty || self.shape.contains(shape.label) {
            if let openblas {
                let r = try shape.measurePaired(kernel: chosen, threads: threads, reps: reps, clock: clock, openblas: openblas)
                results.append((shape, r.cohort, (r.openblas.median, r.ratio.median)))
            } else {
                results.append((shape, try shape.measure(kernel: chosen, threads: threads, reps: reps, clock: clock), nil))
            }
        }
        let peak = max(peakBefore, measureFMAPeak(kernel: chosen, threads: threads, cpuTime: cpuTime))
        if !output.json {
            print(
                "cohort bench gemm: kernel \(chosen), \(threads) thread(s), FMA peak \(String(format: "%.1f", peak)) GFLOP/s (measured)"
            )
            print("blocking: \(sgemmBlockSizes(kernel: chosen).map(String.init(describing:)) ?? "none") on \(CPUModel.current)")
            if let openblas { print("beside OpenBLAS \(openblas.path), pairs back to back; ratio = Cohort / OpenBLAS") }
            print(
                "label                                      m     n     k  op    GFLOP/s     min     max  of peak"
                    + (openblas == nil ? "" : "  OpenBLAS  ratio"))
        }
        for (shape, r, pair) in results {
            let fraction = peak > 0 ? r.median / peak : 0
            if output.json {
                var fields: [(String, BenchLine.Value)] = [
                    ("bench", .string("gemm")), ("m", .int(shape.m)), ("n", .int(shape.n)), ("k", .int(shape.k)),
                    ("trans_a", .bool(shape.transA)), ("trans_b", .bool(shape.transB)), ("threads", .int(threads)),
                    ("gflops", .fixed(r.median, digits: 2)), ("peak_gflops", .fixed(peak, digits: 2)),
                    ("fraction_of_peak", .fixed(fraction, digits: 4)), ("kernel", .string("\(chosen)")),
                    ("label", .string(shape.label)),
                ]
                if let pair {
                    fields += [("openblas_gflops", .fixed(pair.blas, digits: 2)), ("ratio", .fixed(pair.ratio, digits: 4))]
                }
                print(BenchLine(fields).text)
            } else {
                let op = (shape.transA ? "T" : "N") + (shape.transB ? "T" : "N")
                print(
                    shape.label.padding(toLength: 38, withPad: " ", startingAt: 0)
                        + String(
                            format: " %5d %5d %5d  %@  %9.1f %7.1f %7.1f  %6.1f%%", shape.m, shape.n, shape.k, op,
                            r.median, r.min, r.max, fraction * 100)
                        + (pair.map { String(format: "  %8.1f  %5.3f", $0.blas, $0.ratio) } ?? ""))
            }
        }
    }
}
