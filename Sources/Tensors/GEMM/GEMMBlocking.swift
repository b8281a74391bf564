import Foundation
#if arch(x86_64)
import KernelsAVX512
import KernelsAVX2
#endif

/// A micro-kernel: C[0..<mr, 0..<nr] = α·(Ã·B̃) + β·C over `kc` steps of packed panels (see MicroKernelPortable).
typealias MicroKernel = @Sendable (
    _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
) -> Void

/// A micro-kernel that also packs: reads the B panel from its source rows (`ldb` apart, B not transposed) and
/// writes the packed panel to `packedB` as it goes (see `blockedSgemm`, first row panel of a block).
typealias PackingBMicroKernel = @Sendable (
    _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ ldb: Int, _ packedB: UnsafeMutablePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
) -> Void

/// The same for A transposed as stored: step p's mr floats are read at `a + p·lda` and written to `packedA`.
typealias PackingAMicroKernel = @Sendable (
    _ kc: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ packedA: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
) -> Void

/// One kernel's register tile and cache blocking.
///
/// - `mr × nr`: the register tile (fixed by the kernel source, see scripts/gen-gemm-kernels.py).
/// - `kc`: depth of one packed block; an A micro-panel (mr × kc) stays in L1 while the kernel sweeps B.
/// - `nc`: columns of one packed B block (kc × nc), sized to stay in L2 while every A micro-panel passes over it.
/// - `mc`: rows of one packed A block (mc × kc), sized for L3 (or all of A when it is small).
struct GEMMBlocking: Sendable {
    let mr: Int, nr: Int, kc: Int, mc: Int, nc: Int
    /// The deepest block when k fits in two of them: then k is split into (at most) two even blocks up to this
    /// deep rather than blocks of at most `kc`. Measured on Zen 4 (A/B in one run, `--cpu-time`): k = 784 as
    /// 2 × 392 beat 4 × 196 by 1–2% at 128×784·784×256 (half the C updates and kernel calls, and a 12 × 392
    /// A micro-panel still fits L1), while deeper blocks at larger k lost on the square shapes (kc = 256 there).
    var kcShallow: Int { max(kc, 400) }
    let kernel: MicroKernel
    /// Kernels for part of a tile (first `rows` × `cols` of the same packed panels), cheaper at the edges of C.
    var edgeKernels: [EdgeKernel] = []
    /// The full-tile kernel that packs B on the fly, where the ISA has one.
    var packingBKernel: PackingBMicroKernel? = nil
    /// The full-tile kernel that packs Aᵀ on the fly, where the ISA has one.
    var packingAKernel: PackingAMicroKernel? = nil
    /// The full-tile kernel that packs A as stored (not transposed) on the fly, where the ISA has one.
    var packingARowsKernel: PackingAMicroKernel? = nil

    /// The largest strided source block (kc rows `ld` floats apart, so kc·ld floats) that a packing kernel for
    /// B as stored or Aᵀ reads in panel order. Measured on Zen 4 (`cohort bench gemm --cpu-time`, A/B in one
    /// run): packing on the fly won 3–5% where that block spans ≤ 512 KiB (128×784·784×256, 784×128ᵀ·128×256)
    /// and lost 4–10% at 1 MiB and a 4 KiB row stride (128×1024·1024×1024, 1024²), where a sequential packing
    /// pass keeps the hardware prefetcher streaming whole rows and the panel-order reads cannot.
    /// A as stored has no limit: its kernel reads 12 rows, each a sequential stream the prefetcher follows, and
    /// packing it on the fly won at every size measured (128×784·784×256 +2–3%, 512² +4%, 1024² and 2048²
    /// about +1%), where the separate pass transposed 4 × 4 blocks across rows.
    static let onTheFlyPackingLimit = 131_072

    struct EdgeKernel: Sendable {
        let rows: Int, cols: Int
        let kernel: MicroKernel
    }

    /// The cheapest kernel covering a rows × cols edge tile.
    func edgeKernel(rows: Int, cols: Int) -> EdgeKernel {
        var best = EdgeKernel(rows: mr, cols: nr, kernel: kernel)
        for e in edgeKernels where e.rows >= rows && e.cols >= cols && e.rows * e.cols < best.rows * best.cols {
            best = e
        }
        return best
    }
}

extension GEMMKernel {
    /// The table entry, or `COHORT_GEMM_BLOCKS=kc,mc,nc` in its place: a knob for tuning experiments only,
    /// so one binary can try block sizes without rebuilding (malformed values are ignored).
    var blocking: GEMMBlocking {
        let b = tableBlocking
        guard let v = GEMMKernel.blockOverride else { return b }
        return GEMMBlocking(mr: b.mr, nr: b.nr, kc: v.kc, mc: roundUp(v.mc, b.mr), nc: roundUp(v.nc, b.nr),
                            kernel: b.kernel, edgeKernels: b.edgeKernels,
                            packingBKernel: b.packingBKernel, packingAKernel: b.packingAKernel,
                            packingARowsKernel: b.packingARowsKernel)
    }

    private static let blockOverride: (kc: Int, mc: Int, nc: Int)? = {
        guard let raw = getenv("COHORT_GEMM_BLOCKS") else { return nil }
        let v = String(cString: raw).split(separator: ",").compactMap { Int($0) }
        guard v.count == 3, v.allSatisfy({ $0 > 0 }) else { return nil }
        return (v[0], v[1], v[2])
    }()

    /// THE block-size table. AVX-512 entry tuned on AMD Zen 4 (32 KiB L1d, 1 MiB L2 per core) with
    /// `COHORT_GEMM_BLOCKS=kc,mc,nc cohort bench gemm --cpu-time`, alternating candidates over several rounds:
    /// kc=256 / nc=1024 beat 384/384, 192/512 and 320/768 on the square and m=128 shapes. A wide nc lets packing
    /// read B in whole 4 KiB rows (what the prefetcher follows), which mattered more than keeping kc × nc well
    /// inside L2. mc = 1032 (86 × 12) rather than 960 keeps m = 1024 in one row block, so B is packed once:
    /// alternating 3 rounds, square1024 106.7 vs 105.5 and square2048 104.6 vs 102.6 GFLOP/s (medians), the
    /// 1024×128·128×1024 training shape unchanged. The AVX2 and portable entries are scaled from it, not tuned (no such machine here).
    var tableBlocking: GEMMBlocking {
        switch self {
        #if arch(x86_64)
        case .avx512:
            return GEMMBlocking(
                mr: 12, nr: 32, kc: 256, mc: 1032, nc: 1024, kernel: sgemmMicroKernelAVX512,
                edgeKernels: [.init(rows: 8, cols: 32, kernel: sgemmMicroKernelAVX512_8x32),
                              .init(rows: 4, cols: 32, kernel: sgemmMicroKernelAVX512_4x32),
                              .init(rows: 12, cols: 16, kernel: sgemmMicroKernelAVX512_12x16)],
                packingBKernel: sgemmMicroKernelAVX512PackingB, packingAKernel: sgemmMicroKernelAVX512PackingA,
                packingARowsKernel: sgemmMicroKernelAVX512PackingARows)
        case .avx2:
            return GEMMBlocking(mr: 6, nr: 16, kc: 256, mc: 960, nc: 1024, kernel: sgemmMicroKernelAVX2)
        #else
        case .avx512, .avx2:
            preconditionFailure("GEMM kernel \(self) exists only on x86-64")
        #endif
        case .portable:
            return GEMMBlocking(mr: 4, nr: 8, kc: 256, mc: 512, nc: 512, kernel: sgemmMicroKernelPortable)
        }
    }
}
