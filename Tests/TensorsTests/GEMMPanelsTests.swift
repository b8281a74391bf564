import Tensors
import Testing

/// B given as panels (`GEMMBPanels`, the implicit GEMM's seam): a source that packs a stored matrix in the
/// documented layout must give bit for bit the product of `sgemm` on that matrix, for blocks that cross kc and nc,
/// partial last panels, each kernel this CPU runs and column strips on several threads.
@Suite struct GEMMPanelsTests {
    /// Packs rows p0..<p0+depth, columns j0..<j0+cols of a stored k × n matrix, as the protocol documents.
    struct StoredPanels: GEMMBPanels, @unchecked Sendable {
        let b: UnsafePointer<Float>
        let ld: Int
        func pack(p0: Int, depth: Int, j0: Int, cols: Int, nr: Int, into dst: UnsafeMutablePointer<Float>) {
            let panels = (cols + nr - 1) / nr
            for q in 0..<panels {
                for p in 0..<depth {
                    for j in 0..<nr {
                        let col = q * nr + j
                        dst[q * nr * depth + p * nr + j] = col < cols ? b[(p0 + p) * ld + j0 + col] : 0
                    }
                }
            }
        }
    }

    @Test(arguments: [(1, 1, 1), (7, 33, 5), (13, 300, 257), (130, 1100, 600), (29, 2100, 40)])
    func panelsEqualTheStoredMatrix(_ shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        var rng = TestRandom(seed: UInt64(m * 7919 + n * 31 + k))
        let a = (0..<(m * k)).map { _ in rng.float() }
        let b = (0..<(k * n)).map { _ in rng.float() }
        for kernel in GEMMKernel.supported {
            for threads in [1, 2, 3] {
                var stored = [Float](repeating: 0, count: m * n)
                var viaPanels = [Float](repeating: 0, count: m * n)
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        stored.withUnsafeMutableBufferPointer { pc in
                            sgemm(
                                transA: .none, transB: .none, m: m, n: n, k: k, alpha: 1.5, a: pa.baseAddress!,
                                lda: k, b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n,
                                threads: threads, kernel: kernel)
                        }
                        viaPanels.withUnsafeMutableBufferPointer { pc in
                            sgemm(
                                transA: .none, m: m, n: n, k: k, alpha: 1.5, a: pa.baseAddress!, lda: k,
                                panels: StoredPanels(b: pb.baseAddress!, ld: n), beta: 0, c: pc.baseAddress!, ldc: n,
                                threads: threads, kernel: kernel)
                        }
                    }
                }
                #expect(
                    stored.elementsEqual(viaPanels) { $0.bitPattern == $1.bitPattern },
                    "\(m)×\(n)×\(k) \(kernel) threads \(threads)")
            }
        }
    }
}
