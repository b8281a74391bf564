import NN
import Testing

/// The roofline's FLOP and byte counts against the formulas, worked out by hand for a 784-256-10 MLP at batch 128.
@Suite struct StepOpsTests {
    @Test func countsMatchTheFormulas() throws {
        let (b, d0, d1, d2) = (128.0, 784.0, 256.0, 10.0)
        let ops = MLPStepOps.ops(widths: [784, 256, 10], batch: 128)
        let byName = Dictionary(uniqueKeysWithValues: ops.map { ($0.name, $0) })
        let expected: [(String, Double, Double)] = [
            ("dense0.fwd_bias", 0, 4 * (d1 + b * d1)),
            ("dense0.fwd_gemm", 2 * b * d0 * d1, 4 * (b * d0 + d0 * d1 + 2 * b * d1)),
            ("relu0.fwd", b * d1, 8 * b * d1),
            ("dense1.fwd_bias", 0, 4 * (d2 + b * d2)),
            ("dense1.fwd_gemm", 2 * b * d1 * d2, 4 * (b * d1 + d1 * d2 + 2 * b * d2)),
            ("loss", 5 * b * d2, 4 * (2 * b * d2 + b)),
            ("dense1.gemm_dW", 2 * b * d1 * d2, 4 * (b * d1 + b * d2 + d1 * d2)),
            ("dense1.bias_grad", b * d2, 4 * (b * d2 + d2)),
            ("dense1.gemm_dX", 2 * b * d1 * d2, 4 * (b * d2 + d1 * d2 + b * d1)),
            ("relu0.bwd", b * d1, 12 * b * d1),
            ("dense0.gemm_dW", 2 * b * d0 * d1, 4 * (b * d0 + b * d1 + d0 * d1)),
            ("dense0.bias_grad", b * d1, 4 * (b * d1 + d1)),
        ]
        for (name, flops, bytes) in expected {
            let op = try #require(byName[name], "missing \(name)")
            #expect(op.flops == flops, "\(name) flops")
            #expect(op.bytes == bytes, "\(name) bytes")
        }
        #expect(byName["dense0.gemm_dX"] == nil, "the first layer computes no input gradient")
        let p = d0 * d1 + d1 + d1 * d2 + d2
        #expect(byName["optimizer"] == StepOp(name: "optimizer", flops: 4 * p, bytes: 20 * p, footprint: 12 * p))
        // Every GEMM carries its sizes, which agree with its FLOPs; no other op does.
        for op in ops {
            #expect((op.gemm != nil) == op.name.contains("gemm"), "\(op.name)")
            if let g = op.gemm { #expect(op.flops == Double(2 * g.m * g.n * g.k), "\(op.name)") }
        }
        #expect(byName["dense1.gemm_dW"]?.gemm == GEMMDims(m: 256, n: 10, k: 128, aTransposed: true))
        #expect(byName["dense1.gemm_dX"]?.gemm == GEMMDims(m: 128, n: 256, k: 10))
        #expect(ops.count == expected.count + 1)
        // The GEMMs carry the step's FLOPs: 3 products per layer but the first layer's dX.
        let gemmFlops = ops.filter { $0.name.contains("gemm") }.reduce(0) { $0 + $1.flops }
        #expect(gemmFlops == 2 * b * (2 * d0 * d1 + 3 * d1 * d2))
        #expect(
            abs(try #require(byName["dense0.fwd_gemm"]).intensity - 2 * b * d0 * d1 / (4 * (b * d0 + d0 * d1 + 2 * b * d1)))
                < 1e-12)
    }

    /// The profiler times one value per op, in the same order as the counts, and its step runs.
    @Test func profilerTimesEveryOp() {
        let profiler = MLPStepProfiler(widths: [32, 16, 8, 4], batch: 8)
        profiler.step()
        let times = profiler.timedStep()
        #expect(times.count == MLPStepOps.ops(widths: [32, 16, 8, 4], batch: 8).count)
        #expect(times.allSatisfy { $0 >= 0 })
        // Every op but the forward GEMMs runs again on its own (the roofline's measured notes); a forward GEMM adds
        // to the bias it is given, so it does not.
        let ops = MLPStepOps.ops(widths: [32, 16, 8, 4], batch: 8)
        for (i, op) in ops.enumerated() {
            let alone = profiler.isolatedSeconds(op: i, reps: 3)
            #expect((alone == nil) == op.name.hasSuffix("fwd_gemm"), "\(op.name)")
            #expect(alone.map { $0 >= 0 } ?? true)
        }
        #expect(profiler.isolatedSeconds(op: ops.count) == nil)
    }

}
