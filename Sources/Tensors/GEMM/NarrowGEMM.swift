#if arch(x86_64)
    import KernelsAVX512
    import KernelsAVX2
#endif

/// The widest C (in columns) that `sgemm` computes with the narrow kernels on the AVX paths, for reports that say
/// which kernels a product ran on (`bench roofline`).
public let sgemmNarrowMaxColumns = 16

/// A family's kernels for a C at most `maxColumns` wide (a classifier's output layer: n = 10 against AVX-512's
/// 32-wide tile, which would leave 22 of every 32 lanes idle, and whose transpose must gather A's rows to pack
/// them). They need no packing: with A as stored, each lane holds one dot product's share of k (`rows`); with A
/// transposed as stored, the lanes run along C's long side and B's few columns are broadcast (`columns`).
struct NarrowKernels: Sendable {
    /// C's widest n these kernels take: beyond it a packed tile is at least half full.
    static let maxColumns = sgemmNarrowMaxColumns
    /// The columns of C one kernel call covers (the generator's `cols`).
    static let columnsPerCall = 5

    /// Rows of C per `rows` call, and rows of C (the kernel's vector width × vectors) per `columns` call.
    let rowsPerCall: Int, widthPerCall: Int
    let rows:
        @Sendable (
            _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ rows: Int, _ bt: UnsafePointer<Float>, _ ldbt: Int,
            _ cols: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
        ) -> Void
    let columns:
        @Sendable (
            _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ width: Int, _ b: UnsafePointer<Float>, _ bRow: Int,
            _ bCol: Int, _ cols: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
        ) -> Void

    /// The family's narrow kernels; the portable family has none (its products take the packed path).
    static func of(_ family: GEMMKernel) -> NarrowKernels? {
        #if arch(x86_64)
            switch family {
            case .avx512:
                return NarrowKernels(
                    rowsPerCall: 4, widthPerCall: 64, rows: sgemmNarrowRowsAVX512, columns: sgemmNarrowColumnsAVX512)
            case .avx2:
                return NarrowKernels(
                    rowsPerCall: 2, widthPerCall: 16, rows: sgemmNarrowRowsAVX2, columns: sgemmNarrowColumnsAVX2)
            case .portable:
                return nil
            }
        #else
            return nil
        #endif
    }

    /// Whether `op` is narrow enough, and long enough on its other sides, for these kernels to beat the packed
    /// tile (a tiny product is cheaper on the packed path's fixed costs than on a transpose of B).
    static func suits(_ op: GEMMOperands) -> Bool {
        op.bPanels == nil && op.n <= maxColumns && op.m >= 16 && op.k >= 16
    }

    /// Scratch whose rows start on cache lines (64 bytes): the kernels' whole-vector loads from a row that does not
    /// each touch two lines, which halves their rate. With malloc's 16-byte alignment it depended on where the buffer
    /// landed: `bench gemm` 256×1024·1024×10 ran at 123 or 168 GFLOP/s with one binary started from two paths.
    private static func alignedScratch(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(1, count))
    }

    /// C = α·op(A)·op(B) + β·C, C's rows split into `threads` strips.
    func run(_ op: GEMMOperands, threads: Int) {
        let strips = max(1, min(threads, op.m / 16))
        let narrow = self
        runParallel(strips) { t in
            let rows = (t * op.m / strips)..<((t + 1) * op.m / strips)
            let strip = op.strip(rows: rows, cols: 0..<op.n)
            if op.transA == .none { narrow.runRows(strip) } else { narrow.runColumns(strip) }
        }
    }

    /// A as stored: dot products of A's rows with B's columns, which are Bᵀ's rows (B transposed as stored is
    /// already Bᵀ; B as stored is transposed into scratch first: n × k floats, small next to A).
    private func runRows(_ op: GEMMOperands) {
        let (m, n, k) = (op.m, op.n, op.k)
        var scratch: UnsafeMutablePointer<Float>?
        defer { scratch?.deallocate() }
        var bt = op.b
        var ldbt = op.ldb
        if op.transB == .none {
            let ld = (k + 15) / 16 * 16
            let t = Self.alignedScratch(n * ld)
            // Sixteen rows of B at a time: their n × 16 floats are a few cache lines, read once for all n columns,
            // and each column's 16 values go out as one aligned vector store.
            let whole = k / 16 * 16
            for p0 in stride(from: 0, to: whole, by: 16) {
                let block = op.b + p0 * op.ldb
                for j in 0..<n {
                    var v = SIMD16<Float>()
                    for l in 0..<16 { v[l] = block[l * op.ldb + j] }
                    UnsafeMutableRawPointer(t + j * ld + p0).storeBytes(of: v, as: SIMD16<Float>.self)
                }
            }
            for j in 0..<n {
                let (column, out) = (op.b + j, t + j * ld)
                for p in whole..<k { out[p] = column[p * op.ldb] }
            }
            (scratch, bt, ldbt) = (t, UnsafePointer(t), ld)
        }
        let step = Self.columnsPerCall
        // One call's columns of Bᵀ (5 rows of k floats: 20 KiB at k = 1024) stay in L1 while every row block of A
        // passes; with the row blocks outside, each one cycled all of Bᵀ (40 KiB for n = 10) through L1. AVX2's
        // 2-row calls pass over Bᵀ twice as often as AVX-512's 4-row ones, and gained the most (+25% at
        // 256×1024·1024×10 against +1.5%).
        for j in stride(from: 0, to: n, by: step) {
            for i in stride(from: 0, to: m, by: rowsPerCall) {
                rows(
                    k, op.a + i * op.lda, op.lda, min(rowsPerCall, m - i), bt + j * ldbt, ldbt, min(step, n - j),
                    op.c + i * op.ldc + j, op.ldc, op.alpha, op.beta)
            }
        }
    }

    /// A transposed as stored (A[p, i] contiguous in i): blocks of `widthPerCall` rows of C; a short last block
    /// is copied into a zero-padded scratch so the kernel's whole-vector loads stay inside memory it may read.
    private func runColumns(_ op: GEMMOperands) {
        let (m, n, k) = (op.m, op.n, op.k)
        let (bRow, bCol) = op.transB == .none ? (op.ldb, 1) : (1, op.ldb)
        let width = widthPerCall
        let step = Self.columnsPerCall
        for i in stride(from: 0, to: m, by: width) {
            let w = min(width, m - i)
            var a = op.a + i
            var lda = op.lda
            var padded: UnsafeMutablePointer<Float>?
            if w < width {
                let t = Self.alignedScratch(k * width)
                t.initialize(repeating: 0, count: k * width)
                for p in 0..<k { (t + p * width).update(from: op.a + p * op.lda + i, count: w) }
                (padded, a, lda) = (t, UnsafePointer(t), width)
            }
            for j in stride(from: 0, to: n, by: step) {
                let b = op.transB == .none ? op.b + j : op.b + j * op.ldb
                columns(k, a, lda, w, b, bRow, bCol, min(step, n - j), op.c + i * op.ldc + j, op.ldc, op.alpha, op.beta)
            }
            padded?.deallocate()
        }
    }
}
