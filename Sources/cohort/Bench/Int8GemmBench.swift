import Foundation
import Tensors

/// `cohort bench gemm --dtype int8|both`: the int8 GEMM on the forward shapes (A·B as stored), checked exactly
/// against the integer reference, then timed as a quantized Dense layer runs it: s8 activations × s8 weights,
/// dequantized fp32 out with a per-column scale. GOP/s counts 2·m·n·k like GFLOP/s. Two variants: B packed in
/// every call (what `sgemm` does, the fair kernel comparison) and B packed once (how a quantized layer runs).
struct Int8GemmBench {
    let shape: GemmBenchShape
    let kernel: GEMMKernel

    /// The shapes int8 runs: those without a transposed operand (inference is x·K).
    static func applies(to shape: GemmBenchShape) -> Bool { !shape.transA && !shape.transB }

    /// The family's int8 kernel for the fp32 family chosen (AVX-512 without VNNI falls back as `selectedInt8` does).
    static func family(for fp32: GEMMKernel) -> GEMMKernel {
        if fp32.supportsInt8 { return fp32 }
        return fp32 == .avx512 && GEMMKernel.avx2.supportsInt8 ? .avx2 : .portable
    }

    struct Result { let perCall: GemmBenchShape.Result, prepacked: GemmBenchShape.Result }

    func measure(reps: Int, clock now: () -> Double) throws -> Result {
        let (m, n, k) = (shape.m, shape.n, shape.k)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int8 {
            seed ^= seed << 13
            seed ^= seed >> 7
            seed ^= seed << 17
            return Int8(truncatingIfNeeded: seed >> 24)
        }
        let a = (0..<(m * k)).map { _ in next() }
        let b = (0..<(k * n)).map { _ in next() }
        let scale = [Float](repeating: 1e-4, count: n)
        var c = [Float](repeating: 0, count: m * n)
        try check(a, b)
        let packed = Int8PackedMatrix(b: b, ldb: n, k: k, n: n, kernel: kernel)
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                scale.withUnsafeBufferPointer { ps in
                    c.withUnsafeMutableBufferPointer { pc in
                        let out = Int8GEMMOutput.float32(pc.baseAddress!, ldc: n, Int8Requantization(scale: ps.baseAddress!))
                        let perCall = time(reps: reps, now: now) {
                            int8Gemm(
                                m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n, output: out,
                                kernel: kernel)
                        }
                        let prepacked = time(reps: reps, now: now) {
                            int8Gemm(m: m, a: pa.baseAddress!, lda: k, b: packed, output: out)
                        }
                        return Result(perCall: perCall, prepacked: prepacked)
                    }
                }
            }
        }
    }

    /// Every entry of the int32 product against the reference, exactly.
    private func check(_ a: [Int8], _ b: [Int8]) throws {
        let (m, n, k) = (shape.m, shape.n, shape.k)
        var got = [Int32](repeating: 0, count: m * n)
        var want = got
        got.withUnsafeMutableBufferPointer { g in
            int8Gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, output: .int32(g.baseAddress!, ldc: n), kernel: kernel)
        }
        want.withUnsafeMutableBufferPointer { w in
            referenceInt8Gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, output: .int32(w.baseAddress!, ldc: n))
        }
        if let i = got.indices.first(where: { got[$0] != want[$0] }) {
            throw GemmBenchShape.CheckFailure(
                description:
                    "cohort bench gemm: int8 \(shape.label) with kernel \(kernel): C[\(i / n), \(i % n)] = \(got[i]), reference \(want[i])"
            )
        }
    }

    /// GOP/s of the int8 product, timed as the fp32 bench times its GEMMs.
    private func time(reps: Int, now: () -> Double, _ call: () -> Void) -> GemmBenchShape.Result {
        let ops = 2 * Double(shape.m) * Double(shape.n) * Double(shape.k)
        return GemmBenchShape.Result.timing(operations: ops, reps: reps, clock: now, call)
    }
}
