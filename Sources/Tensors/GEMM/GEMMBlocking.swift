import Foundation

/// One kernel family's register tile and cache blocking (its entry in `KernelRegistry.sgemm`).
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

    /// The largest strided source block (kc rows `ld` floats apart, so kc·ld floats) that a packing kernel for
    /// B as stored or Aᵀ reads in panel order. Measured on Zen 4 (`cohort bench gemm --cpu-time`, A/B in one
    /// run): packing on the fly won 3–5% where that block spans ≤ 512 KiB (128×784·784×256, 784×128ᵀ·128×256)
    /// and lost 4–10% at 1 MiB and a 4 KiB row stride (128×1024·1024×1024, 1024²), where a sequential packing
    /// pass keeps the hardware prefetcher streaming whole rows and the panel-order reads cannot.
    /// A as stored has no limit: its kernel reads 12 rows, each a sequential stream the prefetcher follows, and
    /// packing it on the fly won at every size measured (128×784·784×256 +2–3%, 512² +4%, 1024² and 2048²
    /// about +1%), where the separate pass transposed 4 × 4 blocks across rows.
    static let onTheFlyPackingLimit = 131_072

    /// The block sizes for one thread's m × n × k product: the fewest even blocks within the limits above.
    func blockSizes(m: Int, n: Int, k: Int) -> (kc: Int, mc: Int, nc: Int) {
        let kcMax = k <= 2 * kcShallow ? evenBlock(k, limit: kcShallow, unit: 4) : evenBlock(k, limit: kc, unit: 4)
        return (kcMax, evenBlock(m, limit: mc, unit: mr), evenBlock(n, limit: nc, unit: nr))
    }

    /// This entry, or `COHORT_GEMM_BLOCKS=kc,mc,nc` in its place: a knob for tuning experiments only, so one
    /// binary can try block sizes without rebuilding (malformed values are ignored; read once per process).
    var overridden: GEMMBlocking {
        guard let v = GEMMBlocking.blockOverride else { return self }
        return GEMMBlocking(mr: mr, nr: nr, kc: v.kc, mc: roundUp(v.mc, mr), nc: roundUp(v.nc, nr))
    }

    private static let blockOverride: (kc: Int, mc: Int, nc: Int)? = {
        guard let raw = getenv("COHORT_GEMM_BLOCKS") else { return nil }
        let v = String(cString: raw).split(separator: ",").compactMap { Int($0) }
        guard v.count == 3, v.allSatisfy({ $0 > 0 }) else { return nil }
        return (v[0], v[1], v[2])
    }()
}

/// Splits `extent` into the fewest blocks of at most `limit` (a multiple of `unit`), all of about equal size and
/// rounded up to `unit`: k = 784 with kc = 384 becomes 3 × 264 rather than 384 + 384 + 16, whose 16-deep block would
/// cost as many C updates as a full one for 4% of the work.
@inline(__always)
func evenBlock(_ extent: Int, limit: Int, unit: Int) -> Int {
    let blocks = (extent + limit - 1) / limit
    return min(limit, roundUp((extent + blocks - 1) / blocks, unit))
}

@inline(__always) func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }
