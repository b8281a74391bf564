import Foundation
import Tensors

extension BenchGemm {
    /// `--dtype int8|both`: per forward shape, the fp32 line (with `both`) then the int8 lines, measured back to
    /// back so each ratio comes from one moment of a shared machine. No FMA-peak fractions: the peak is fp32's.
    func runWithInt8(_ fp32Kernel: GEMMKernel) throws {
        let int8Kernel = Int8GemmBench.family(for: fp32Kernel)
        let clock = cpuTime ? threadCPUSeconds : wallSeconds
        if !output.json {
            print("cohort bench gemm: fp32 kernel \(fp32Kernel), int8 kernel \(int8Kernel), 1 thread")
            print("label                                      m     n     k  dtype  B packing       G(FL)OP/s     min     max")
        }
        for shape in GemmBenchShape.all where Int8GemmBench.applies(to: shape) {
            if !self.shape.isEmpty && !self.shape.contains(shape.label) { continue }
            if dtype == "both" {
                let r = try shape.measure(kernel: fp32Kernel, threads: 1, reps: reps, clock: clock)
                emit(shape, dtype: "fp32", kernel: fp32Kernel, packing: "per_call", r)
            }
            let r = try Int8GemmBench(shape: shape, kernel: int8Kernel).measure(reps: reps, clock: clock)
            emit(shape, dtype: "int8", kernel: int8Kernel, packing: "per_call", r.perCall)
            emit(shape, dtype: "int8", kernel: int8Kernel, packing: "prepacked", r.prepacked)
        }
    }

    private func emit(_ shape: GemmBenchShape, dtype: String, kernel: GEMMKernel, packing: String, _ r: GemmBenchShape.Result) {
        if output.json {
            let rate = dtype == "int8" ? "gops" : "gflops"
            print(
                BenchLine([
                    ("bench", .string("gemm")), ("dtype", .string(dtype)), ("m", .int(shape.m)), ("n", .int(shape.n)),
                    ("k", .int(shape.k)), (rate, .fixed(r.median, digits: 2)), ("kernel", .string("\(kernel)")),
                    ("b_packing", .string(packing)), ("threads", .int(1)), ("label", .string(shape.label)),
                ]).text)
        } else {
            print(
                shape.label.padding(toLength: 38, withPad: " ", startingAt: 0)
                    + String(
                        format: " %5d %5d %5d  %@  %@  %9.1f %7.1f %7.1f", shape.m, shape.n, shape.k,
                        dtype.padding(toLength: 5, withPad: " ", startingAt: 0),
                        packing.padding(toLength: 14, withPad: " ", startingAt: 0), r.median, r.min, r.max))
        }
    }
}
