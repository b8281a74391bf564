import Foundation
import Tensors

/// One benchmarked product op(A)·op(B), m×k · k×n. Labels match ../shared/anchors/gemm_openblas.py so
/// scripts/bench-gemm.sh can pair each shape with its OpenBLAS figure.
struct GemmBenchShape {
    let label: String
    let m: Int, n: Int, k: Int
    let transA: Bool, transB: Bool

    static let all: [GemmBenchShape] =
        [128, 256, 512, 1024, 2048].map {
            GemmBenchShape(label: "square\($0)", m: $0, n: $0, k: $0, transA: false, transB: false)
        } + [
            GemmBenchShape(label: "fwd_128x784.784x256", m: 128, n: 256, k: 784, transA: false, transB: false),
            GemmBenchShape(label: "fwd_128x1024.1024x1024", m: 128, n: 1024, k: 1024, transA: false, transB: false),
            GemmBenchShape(label: "bwd_dW_1024x128.128x1024_contig", m: 1024, n: 1024, k: 128, transA: false, transB: false),
            GemmBenchShape(label: "bwd_dW_xT(1024x128).dy(128x1024)_TN", m: 1024, n: 1024, k: 128, transA: true, transB: false),
            GemmBenchShape(label: "bwd_dx_dy(128x1024).wT(1024x1024)_NT", m: 128, n: 1024, k: 1024, transA: false, transB: true),
            GemmBenchShape(label: "bwd_dW_xT(784x128).dy(128x256)_TN", m: 784, n: 256, k: 128, transA: true, transB: false),
            GemmBenchShape(label: "bwd_dx_dy(128x256).wT(256x784)_NT", m: 128, n: 784, k: 256, transA: false, transB: true),
            // W2's output layer at batch 256: C ten columns wide (the narrow kernels), and its k = 10 ∂x.
            GemmBenchShape(label: "out_fwd_256x1024.1024x10", m: 256, n: 10, k: 1024, transA: false, transB: false),
            GemmBenchShape(label: "out_dW_xT(1024x256).dy(256x10)_TN", m: 1024, n: 10, k: 256, transA: true, transB: false),
            GemmBenchShape(label: "out_dx_dy(256x10).wT(10x1024)_NT", m: 256, n: 1024, k: 10, transA: false, transB: true),
        ]

    struct Result {
        let median: Double, min: Double, max: Double

        /// The rate of `call` in G-operations per second (`operations` per call): at least 3 calls and 0.2 s of
        /// warm-up, then `reps` samples of an inner loop of at least 50 ms each; their median, minimum and maximum.
        static func timing(operations: Double, reps: Int, clock now: () -> Double, _ call: () -> Void) -> Result {
            let inner = warmUp(clock: now, call)
            return Result((0..<Swift.max(1, reps)).map { _ in operations / sample(inner, clock: now, call) / 1e9 })
        }

        /// The median, minimum and maximum of `values` (not empty).
        init(_ values: [Double]) {
            let sorted = values.sorted()
            self.init(median: sorted[sorted.count / 2], min: sorted[0], max: sorted[sorted.count - 1])
        }

        init(median: Double, min: Double, max: Double) {
            (self.median, self.min, self.max) = (median, min, max)
        }

        /// At least 3 calls and 0.2 s of warm-up; returns the calls in one sample of at least 50 ms.
        static func warmUp(clock now: () -> Double, _ call: () -> Void) -> Int {
            let w0 = now()
            var calls = 0
            while calls < 3 || now() - w0 < 0.2 {
                call()
                calls += 1
            }
            return Swift.max(1, Int(0.05 / ((now() - w0) / Double(calls))))
        }

        /// Seconds per call over `inner` calls.
        static func sample(_ inner: Int, clock now: () -> Double, _ call: () -> Void) -> Double {
            let t0 = now()
            for _ in 0..<inner { call() }
            return (now() - t0) / Double(inner)
        }
    }

    struct CheckFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Checks the result against the Float64 reference (every entry up to 512³, a deterministic sample of
    /// entries of the full-size result above, where the naive loop would take minutes), then times it.
    func measure(kernel: GEMMKernel, threads: Int, reps: Int, clock now: () -> Double) throws -> Result {
        let (aStored, bStored) = operands()
        let c = Tensor(shape: [m, n], repeating: .nan)
        let call = cohortCall(kernel: kernel, threads: threads, a: aStored, b: bStored, c: c)
        call()
        try check(c, a: aStored, b: bStored, kernel: "kernel \(kernel)")
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        return Result.timing(operations: flops, reps: reps, clock: now, call)
    }

    /// Cohort's and OpenBLAS's rates on the same operands, each checked against the reference first, then sampled
    /// in pairs back to back (which goes first alternates), and the median of the pairs' ratios (Cohort over
    /// OpenBLAS): a clock that moves between pairs moves both sides of each.
    func measurePaired(kernel: GEMMKernel, threads: Int, reps: Int, clock now: () -> Double, openblas: OpenBLASGemm)
        throws -> (cohort: Result, openblas: Result, ratio: Result)
    {
        let (aStored, bStored) = operands()
        let c = Tensor(shape: [m, n], repeating: .nan)
        let cohort = cohortCall(kernel: kernel, threads: threads, a: aStored, b: bStored, c: c)
        cohort()
        try check(c, a: aStored, b: bStored, kernel: "kernel \(kernel)")
        let o = Tensor(shape: [m, n], repeating: .nan)
        let blas = {
            openblas.sgemm(
                transA: transA, transB: transB, m: m, n: n, k: k, a: aStored.pointer, lda: aStored.columns,
                b: bStored.pointer, ldb: bStored.columns, c: o.pointer, ldc: n)
        }
        blas()
        try check(o, a: aStored, b: bStored, kernel: "OpenBLAS")
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        let (innerCohort, innerBlas) = (Result.warmUp(clock: now, cohort), Result.warmUp(clock: now, blas))
        var (ours, theirs, ratios) = ([Double](), [Double](), [Double]())
        for r in 0..<Swift.max(1, reps) {
            var pair = (0.0, 0.0)
            if r % 2 == 0 {
                pair.0 = Result.sample(innerCohort, clock: now, cohort)
                pair.1 = Result.sample(innerBlas, clock: now, blas)
            } else {
                pair.1 = Result.sample(innerBlas, clock: now, blas)
                pair.0 = Result.sample(innerCohort, clock: now, cohort)
            }
            ours.append(flops / pair.0 / 1e9)
            theirs.append(flops / pair.1 / 1e9)
            ratios.append(pair.1 / pair.0)
        }
        return (Result(ours), Result(theirs), Result(ratios))
    }

    /// The shape's stored operands (op(A) is m×k, op(B) k×n), filled with the same deterministic values every run.
    private func operands() -> (a: Tensor, b: Tensor) {
        let aStored = transA ? Tensor(shape: [k, m]) : Tensor(shape: [m, k])
        let bStored = transB ? Tensor(shape: [n, k]) : Tensor(shape: [k, n])
        var seed: UInt64 = 0x2545_F491_4F6C_DD1D
        for t in [aStored, bStored] {
            let p = t.pointer
            for i in 0..<t.count {
                seed ^= seed << 13
                seed ^= seed >> 7
                seed ^= seed << 17
                p[i] = Float(Int(seed % 2001) - 1000) / 1000
            }
        }
        return (aStored, bStored)
    }

    /// One call of Cohort's sgemm on `kernel`, C = op(A)·op(B).
    private func cohortCall(kernel: GEMMKernel, threads: Int, a: Tensor, b: Tensor, c: Tensor) -> () -> Void {
        let (ta, tb): (Transpose, Transpose) = (transA ? .transpose : .none, transB ? .transpose : .none)
        let (m, n, k, lda, ldb) = (m, n, k, a.columns, b.columns)
        return {
            sgemm(
                transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: a.pointer, lda: lda, b: b.pointer, ldb: ldb,
                beta: 0, c: c.pointer, ldc: n, threads: threads, kernel: kernel)
        }
    }

    /// `kernel` names what computed `c` in the error.
    private func check(_ c: Tensor, a: Tensor, b: Tensor, kernel: String) throws {
        let full = m * n * k <= 512 * 512 * 512
        var entries: [(Int, Int)] = [(0, 0), (m - 1, n - 1), (m - 1, 0), (0, n - 1)]
        if full {
            for i in 0..<m { for j in 0..<n { entries.append((i, j)) } }
        } else {
            for s in 0..<512 { entries.append(((s * 7919 + 13) % m, (s * 104_729 + 7) % n)) }
        }
        let eps = Double(Float.ulpOfOne)
        let pa = a.pointer
        let pb = b.pointer
        let pc = c.pointer
        let lda = a.columns
        let ldb = b.columns
        for (i, j) in entries {
            var dot = 0.0
            var mag = 0.0
            for p in 0..<k {
                let av = Double(transA ? pa[p * lda + i] : pa[i * lda + p])
                let bv = Double(transB ? pb[j * ldb + p] : pb[p * ldb + j])
                dot += av * bv
                mag += abs(av * bv)
            }
            let got = Double(pc[i * n + j])
            guard abs(got - dot) <= 2 * eps * Double(k + 4) * mag + 1e-30 else {
                throw CheckFailure(
                    description: "cohort bench gemm: \(label) with \(kernel): C[\(i), \(j)] = \(got), reference \(dot)")
            }
        }
    }
}

func wallSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// CPU time of the calling thread: excludes the time other processes hold the core.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
