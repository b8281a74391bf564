/// What a kernel computes on. The int8 GEMM (int32 accumulators) has its own table (`Int8GEMMKernels`), because its
/// kernels have other signatures and its entries other blockings.
public enum KernelElement: String, CaseIterable, Sendable, CustomStringConvertible {
    case float32, int8

    public var description: String { rawValue }
}

/// The key every kernel table is indexed by: the instruction-set family the kernel was compiled for, and the
/// element type it computes on. BLIS registers its kernels per (architecture, datatype) the same way, so a new
/// datatype adds entries without touching the dispatch of the existing ones.
public struct KernelKey: Hashable, Sendable, CustomStringConvertible {
    public let family: GEMMKernel
    public let element: KernelElement

    public init(family: GEMMKernel, element: KernelElement) {
        self.family = family
        self.element = element
    }

    public var description: String { "\(family)/\(element)" }
}

/// One element type's kernels, an entry per family this build has (the AVX families exist only on x86-64).
/// Stored as an array indexed by family rather than a dictionary: `sgemm` reads it on every call, and a lookup
/// must cost nothing next to a millisecond-sized product.
struct KernelTable<Entry: Sendable>: Sendable {
    let element: KernelElement
    private let entries: [Entry?]

    init(element: KernelElement, _ byFamily: [GEMMKernel: Entry]) {
        self.element = element
        entries = GEMMKernel.allCases.map { byFamily[$0] }
    }

    /// The entry for `key`, or nil when this build has no such kernel (or the key is another element's).
    subscript(key: KernelKey) -> Entry? {
        key.element == element ? entries[key.family.tableIndex] : nil
    }
}

extension GEMMKernel {
    /// The family's position in `allCases`, written out so a table lookup is a constant-time index.
    var tableIndex: Int {
        switch self {
        case .avx512: return 0
        case .avx2: return 1
        case .portable: return 2
        }
    }
}

/// One entry of the fp32 GEMM table: a family's micro-kernels and the cache blocking tuned for them.
struct SgemmEntry: Sendable {
    let kernels: any Float32MicroKernels.Type
    let blocking: GEMMBlocking
    /// Kernels for a C at most a few columns wide, where a packed tile would idle most of its lanes.
    let narrow: NarrowKernels?

    /// `kc`, `mc`, `nc` from the block-size table below, or `COHORT_GEMM_BLOCKS` in their place; mr × nr is the
    /// kernels' register tile.
    init<K: Float32MicroKernels>(_ kernels: K.Type, kc: Int, mc: Int, nc: Int, narrow: NarrowKernels? = nil) {
        self.kernels = kernels
        self.narrow = narrow
        blocking = GEMMBlocking(mr: K.mr, nr: K.nr, kc: kc, mc: mc, nc: nc).overridden
    }
}

/// The kernel tables that run-time dispatch reads (`sgemm` with `KernelKey(family:element: .float32)`).
enum KernelRegistry {
    /// fp32 GEMM, and THE block-size table. AVX-512 entry tuned on AMD Zen 4 (32 KiB L1d, 1 MiB L2 per core) with
    /// `COHORT_GEMM_BLOCKS=kc,mc,nc cohort bench gemm --cpu-time`, alternating candidates over several rounds:
    /// kc=256 / nc=1024 beat 384/384, 192/512 and 320/768 on the square and m=128 shapes. A wide nc lets packing
    /// read B in whole 4 KiB rows (what the prefetcher follows), which mattered more than keeping kc × nc well
    /// inside L2. mc = 1032 (86 × 12) rather than 960 keeps m = 1024 in one row block, so B is packed once:
    /// alternating 3 rounds, square1024 106.7 vs 105.5 and square2048 104.6 vs 102.6 GFLOP/s (medians), the
    /// 1024×128·128×1024 training shape unchanged. The AVX2 entry takes the same mc = 1032 (172 × 6) for the same
    /// reason: on an Intel Xeon (Sapphire Rapids class, 48 KiB L1d, 2 MiB L2) with the AVX2 path forced, alternating
    /// 6 rounds (`--cpu-time`), square1024 108.2 vs 107.9, square2048 106.6 vs 105.2 and the 1024×128·128×1024
    /// shape 110.7 vs 107.5 GFLOP/s against mc = 960 (within that machine's ±5% clock drift, never worse); kc = 384
    /// and 512 lost on square1024/2048, nc = 2048 on square2048. The portable entry is scaled, not tuned.
    ///
    /// On AMD Zen 4 both x86 entries take nc = 2048 (`zenWideColumns`), the opposite of the Xeon's finding: a 2048-wide
    /// C is then one column block, so each A row panel is packed once and used across all 2048 columns, and B is
    /// read from L3 (fast on Zen) rather than kept in the 1 MiB L2. Paired with OpenBLAS
    /// (`cohort bench gemm --shape square2048 --beside-openblas numpy`, `COHORT_GEMM_BLOCKS=256,1032,2048` against
    /// the default, alternating): AVX-512 against SkylakeX 1.036/1.048/1.045 against 1.012/1.013/1.025; AVX2
    /// against Haswell 0.970/0.997/0.997/0.997 against 0.995/0.978/0.980/0.978. Only products wider than 1024
    /// columns change (every training shape has n ≤ 1024).
    static let sgemm: KernelTable<SgemmEntry> = {
        var entries: [GEMMKernel: SgemmEntry] = [
            .portable: SgemmEntry(PortableFloat32Kernels.self, kc: 256, mc: 512, nc: 512)
        ]
        #if arch(x86_64)
            let nc = zenWideColumns ? 2048 : 1024
            entries[.avx512] = SgemmEntry(
                AVX512Float32Kernels.self, kc: 256, mc: 1032, nc: nc, narrow: NarrowKernels.of(.avx512))
            entries[.avx2] = SgemmEntry(
                AVX2Float32Kernels.self, kc: 256, mc: 1032, nc: nc, narrow: NarrowKernels.of(.avx2))
        #endif
        return KernelTable(element: .float32, entries)
    }()

    /// Whether the x86 entries take Zen 4's wider column blocks (an AMD Zen 4 or later core). On one machine,
    /// `COHORT_GEMM_BLOCKS=256,1032,1024` gives every other x86 CPU's table for an A/B run.
    static let zenWideColumns = CPUModel.current.isAMDZen4OrLater
}

/// One kernel family's fp32 register tile and block sizes as `sgemm` uses them on this CPU (after
/// `COHORT_GEMM_BLOCKS`), for benchmarks that state what they measured.
public struct SgemmBlockSizes: Sendable, Equatable, CustomStringConvertible {
    public let mr: Int, nr: Int, kc: Int, mc: Int, nc: Int

    public init(mr: Int, nr: Int, kc: Int, mc: Int, nc: Int) {
        (self.mr, self.nr, self.kc, self.mc, self.nc) = (mr, nr, kc, mc, nc)
    }

    public var description: String { "tile \(mr)x\(nr), kc \(kc), mc \(mc), nc \(nc)" }
}

/// The fp32 block sizes of `kernel` on this CPU, or nil when this build has no such kernel.
public func sgemmBlockSizes(kernel: GEMMKernel) -> SgemmBlockSizes? {
    guard let b = KernelRegistry.sgemm[KernelKey(family: kernel, element: .float32)]?.blocking else { return nil }
    return SgemmBlockSizes(mr: b.mr, nr: b.nr, kc: b.kc, mc: b.mc, nc: b.nc)
}
