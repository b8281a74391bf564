import Foundation
import Tensors
import Testing

/// Sizes around the register tiles of every kernel (4×8, 6×16, 12×32, the AVX-512 edge tiles 8×32, 4×32, 12×16
/// and the AVX2 ones 4×16, 2×16, 6×8, each exact and partial): 0, 1, primes, and non-multiples. 8 and 40 leave
/// 8 columns of a 16-wide tile, the only sizes where the AVX2 6×8 kernel writes C directly.
private let edgeSizes = [0, 1, 2, 5, 7, 8, 13, 16, 20, 31, 32, 33, 37, 40, 67]
private let transposes: [(Transpose, Transpose)] = [
    (.none, .none), (.transpose, .none), (.none, .transpose), (.transpose, .transpose),
]
/// (1, 0) and (1, 1) are the micro-kernels' store-only and add-only epilogues (a product's first and later kc blocks).
private let scalings: [(alpha: Float, beta: Float)] = [(1, 0), (-0.5, 1), (1.25, 0.75), (2, 0), (1, 1)]

@Suite(.timeLimit(.minutes(5)))
struct GEMMTests {
    /// Every m, n, k from the edge sizes under every transpose pair, cycling through α/β, leading-dimension
    /// padding and 1-float misalignment, on each kernel this CPU supports.
    @Test(arguments: GEMMKernel.supported)
    func edgeShapesMatchFloat64Reference(kernel: GEMMKernel) {
        var index = 0
        for m in edgeSizes {
            for n in edgeSizes {
                for k in edgeSizes {
                    for (ta, tb) in transposes {
                        let s = scalings[index % scalings.count]
                        let t = GEMMCase(
                            transA: ta, transB: tb, m: m, n: n, k: k, alpha: s.alpha, beta: s.beta,
                            ldPad: [0, 1, 5][index % 3], offset: (index / 2) % 2)
                        let r = runGEMMCase(t, kernel: kernel, seed: UInt64(index))
                        #expect(r.worst <= 1, "\(kernel) \(t): error \(r.worst)× bound")
                        #expect(r.guardsIntact, "\(kernel) \(t): wrote outside C")
                        index += 1
                    }
                }
            }
        }
    }

    /// Sizes past one cache block in every dimension (k > kc: β applies once, later blocks accumulate;
    /// m > mc and n > nc: several packed blocks, n = 2100 also past Zen 4's nc of 2048), with every transpose pair.
    @Test(arguments: GEMMKernel.supported)
    func multiBlockShapesMatchFloat64Reference(kernel: GEMMKernel) {
        let shapes = [(m: 71, n: 70, k: 600), (m: 1100, n: 37, k: 61), (m: 13, n: 1100, k: 300), (m: 19, n: 2100, k: 270)]
        for (i, s) in shapes.enumerated() {
            for (j, (ta, tb)) in transposes.enumerated() {
                let t = GEMMCase(
                    transA: ta, transB: tb, m: s.m, n: s.n, k: s.k, alpha: 0.5, beta: j % 2 == 0 ? 0 : -1,
                    ldPad: 3, offset: j % 2)
                let r = runGEMMCase(t, kernel: kernel, seed: UInt64(100 + i * 4 + j))
                #expect(r.worst <= 1, "\(kernel) \(t): error \(r.worst)× bound")
                #expect(r.guardsIntact, "\(kernel) \(t): wrote outside C")
            }
        }
    }

    /// The paths where the first row (column) panel's kernel packs B (Aᵀ) as it reads it from the source: small m
    /// with several kc blocks, a partial last column (row) panel packed apart, power-of-two leading dimensions
    /// (ldb = 256 for B as stored, lda = 128 for Aᵀ), m exactly one tile, and n past nc (only the first column
    /// block packs A on the fly; later ones reuse it). A as stored is packed on the fly too (the NN and NT cases),
    /// also with m past mc (1100 rows: several row blocks at mc = 1032), rows spanning more than the B/Aᵀ limit (300 × 600),
    /// and k split into two uneven blocks deeper than kc (785).
    @Test(arguments: GEMMKernel.supported)
    func onTheFlyPackingShapesMatchFloat64Reference(kernel: GEMMKernel) {
        let shapes = [
            (m: 128, n: 250, k: 300, pad: 6), (m: 122, n: 96, k: 200, pad: 6), (m: 12, n: 64, k: 33, pad: 0),
            (m: 44, n: 1100, k: 40, pad: 0), (m: 25, n: 70, k: 520, pad: 2), (m: 1100, n: 40, k: 20, pad: 1),
            (m: 128, n: 256, k: 785, pad: 0), (m: 300, n: 64, k: 600, pad: 0),
        ]
        for (i, s) in shapes.enumerated() {
            for (j, (ta, tb)) in transposes.enumerated() {
                let t = GEMMCase(
                    transA: ta, transB: tb, m: s.m, n: s.n, k: s.k, alpha: 1.5, beta: j % 2 == 0 ? 0 : 0.5,
                    ldPad: s.pad, offset: i % 2)
                let r = runGEMMCase(t, kernel: kernel, seed: UInt64(300 + i * 4 + j))
                #expect(r.worst <= 1, "\(kernel) \(t): error \(r.worst)× bound")
                #expect(r.guardsIntact, "\(kernel) \(t): wrote outside C")
            }
        }
    }

    /// C at most 16 columns wide (the narrow kernels, no packing): the output layer's shapes (n = 10 under k = 1024
    /// or k = 256), k not a whole number of vectors, m not a whole number of row or column blocks (the columns
    /// kernel's zero-padded last block), n past one call's 5 columns and at the 16 limit, with every transpose pair,
    /// β on and off, and two threads.
    @Test(arguments: GEMMKernel.supported)
    func narrowProductsMatchFloat64Reference(kernel: GEMMKernel) {
        let shapes = [
            (m: 256, n: 10, k: 1024), (m: 1024, n: 10, k: 256), (m: 130, n: 7, k: 1001), (m: 77, n: 16, k: 33),
            (m: 16, n: 1, k: 16), (m: 203, n: 11, k: 95),
        ]
        for (i, s) in shapes.enumerated() {
            for (j, (ta, tb)) in transposes.enumerated() {
                for threads in [1, 2] {
                    let t = GEMMCase(
                        transA: ta, transB: tb, m: s.m, n: s.n, k: s.k, alpha: j % 2 == 0 ? 1 : -0.75,
                        beta: j < 2 ? 0 : 1.5, ldPad: (i + j) % 3, offset: i % 2, threads: threads)
                    let r = runGEMMCase(t, kernel: kernel, seed: UInt64(700 + i * 4 + j))
                    #expect(r.worst <= 1, "\(kernel) \(t): error \(r.worst)× bound")
                    #expect(r.guardsIntact, "\(kernel) \(t): wrote outside C")
                }
            }
        }
    }

    /// Several threads split C into strips (by columns or by rows); the result must not depend on it.
    @Test(arguments: GEMMKernel.supported)
    func threadedMatchesFloat64Reference(kernel: GEMMKernel) {
        let shapes = [(m: 150, n: 290, k: 100), (m: 301, n: 77, k: 129), (m: 64, n: 64, k: 700)]
        for (i, s) in shapes.enumerated() {
            for threads in [2, 3] {
                let (ta, tb) = transposes[(i + threads) % 4]
                let t = GEMMCase(
                    transA: ta, transB: tb, m: s.m, n: s.n, k: s.k, alpha: 1, beta: threads == 2 ? 0 : 0.5,
                    ldPad: 1, offset: threads % 2, threads: threads)
                let r = runGEMMCase(t, kernel: kernel, seed: UInt64(200 + i * 4 + threads))
                #expect(r.worst <= 1, "\(kernel) \(t): error \(r.worst)× bound")
                #expect(r.guardsIntact, "\(kernel) \(t): wrote outside C")
            }
        }
    }

    /// Helper threads are parked and reused between calls: many calls in a row, from several test threads at
    /// once, must each finish and give the same bits as a single-threaded call.
    @Test(.timeLimit(.minutes(3)), arguments: GEMMKernel.supported)
    func repeatedThreadedCallsAgreeWithOneThread(kernel: GEMMKernel) {
        let m = 64
        let n = 128
        let k = 512
        var rng = TestRandom(seed: 9)
        let a = (0..<m * k).map { _ in rng.float() }
        let b = (0..<k * n).map { _ in rng.float() }
        var single = [Float](repeating: 0, count: m * n)
        sgemm(
            transA: .none, transB: .none, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0,
            c: &single, ldc: n, threads: 1, kernel: kernel)
        var mismatches = 0
        for call in 0..<100 {
            var c = [Float](repeating: .nan, count: m * n)
            sgemm(
                transA: .none, transB: .none, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0,
                c: &c, ldc: n, threads: 2 + call % 2, kernel: kernel)
            if c != single { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// α = 0 and k = 0 leave only β·C; β = 0 then clears C even where it held NaN.
    @Test(arguments: GEMMKernel.supported)
    func degenerateProductsOnlyScaleC(kernel: GEMMKernel) {
        for (alpha, k) in [(Float(0), 9), (Float(1), 0)] {
            for beta in [Float(0), 1, -2] {
                let t = GEMMCase(transA: .none, transB: .none, m: 5, n: 11, k: k, alpha: alpha, beta: beta, ldPad: 2)
                let r = runGEMMCase(t, kernel: kernel, seed: 7)
                #expect(r.worst <= 1, "\(kernel) \(t): error \(r.worst)× bound")
                #expect(r.guardsIntact, "\(kernel) \(t): wrote outside C")
            }
        }
    }

    /// /proc/cpuinfo's first vendor and family lines, whatever else surrounds them.
    @Test func cpuModelIsReadFromCPUInfo() {
        let text =
            "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n\nprocessor\t: 1\nvendor_id\t: X\n"
        #expect(CPUModel.parse(text) == CPUModel(vendor: "AuthenticAMD", family: 25))
        #expect(CPUModel.parse("vendor_id : GenuineIntel\ncpu family : 6\n") == CPUModel(vendor: "GenuineIntel", family: 6))
        #expect(CPUModel.parse("garbage\ncpu family : x\n") == CPUModel(vendor: "", family: 0))
        #expect(!CPUModel(vendor: "GenuineIntel", family: 6).isAMDZen4OrLater)
        #expect(!CPUModel(vendor: "AuthenticAMD", family: 23).isAMDZen4OrLater)
    }

    /// The x86 entries take 2048-wide column blocks on Zen 4 and later, 1024 elsewhere; the portable entry 512.
    /// (Skipped where `COHORT_GEMM_BLOCKS` overrides the table.)
    @Test func blockTableFollowsTheCPU() {
        guard ProcessInfo.processInfo.environment["COHORT_GEMM_BLOCKS"] == nil else { return }
        #expect(sgemmBlockSizes(kernel: .portable) == SgemmBlockSizes(mr: 4, nr: 8, kc: 256, mc: 512, nc: 512))
        for kernel in [GEMMKernel.avx512, .avx2] where kernel.isSupported {
            let nc = CPUModel.current.isAMDZen4OrLater ? 2048 : 1024
            #expect(sgemmBlockSizes(kernel: kernel)?.nc == nc, "\(kernel) on \(CPUModel.current)")
            #expect(sgemmBlockSizes(kernel: kernel)?.kc == 256)
        }
    }

    @Test func selectedKernelIsSupportedAndPortableAlwaysIs() {
        #expect(GEMMKernel.selected.isSupported)
        #expect(GEMMKernel.supported.contains(.portable))
        #expect(GEMMKernel.best == GEMMKernel.supported[0])
    }

    /// The Tensor wrapper passes shapes and transposes through: Xᵀ·dY and dY·Wᵀ as the NN layers use them.
    @Test func tensorMatmulMatchesReference() {
        var rng = TestRandom(seed: 42)
        let x = Tensor(shape: [7, 5], values: (0..<35).map { _ in rng.float() })
        let w = Tensor(shape: [5, 3], values: (0..<15).map { _ in rng.float() })
        let dy = Tensor(shape: [7, 3], values: (0..<21).map { _ in rng.float() })
        func ref(_ a: Tensor, _ ta: Bool, _ b: Tensor, _ tb: Bool) -> [Float] {
            let m = ta ? a.columns : a.rows
            let k = ta ? a.rows : a.columns
            let n = tb ? b.rows : b.columns
            return (0..<m * n).map { idx in
                let i = idx / n
                let j = idx % n
                var s = 0.0
                for p in 0..<k { s += Double(ta ? a[p, i] : a[i, p]) * Double(tb ? b[j, p] : b[p, j]) }
                return Float(s)
            }
        }
        func close(_ x: [Float], _ y: [Float]) -> Bool { zip(x, y).allSatisfy { abs($0 - $1) <= 1e-5 } }
        #expect(close(x.matmul(w).array, ref(x, false, w, false)))
        #expect(close(x.matmul(dy, transA: .transpose).array, ref(x, true, dy, false)))
        #expect(close(dy.matmul(w, transB: .transpose).array, ref(dy, false, w, true)))
        let acc = Tensor(shape: [7, 3], repeating: 1)
        Tensor.matmul(x, w, beta: 1, into: acc)
        #expect(close(acc.array, ref(x, false, w, false).map { $0 + 1 }))
    }
}
