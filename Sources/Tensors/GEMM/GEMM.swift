/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none, transpose
}

/// C = α·op(A)·op(B) + β·C on row-major fp32 matrices.
///
/// op(A) is m×k, op(B) is k×n, C is m×n; `lda`, `ldb`, `ldc` are the row strides of A, B and C as stored
/// (A is m×k stored, or k×m when transposed). Any m, n, k ≥ 0. β = 0 overwrites C without reading it
/// (NaN in C is ignored), as BLAS does. `threads` > 1 splits C into that many column (or row) strips, one per
/// thread; the default is 1 because a Cohort worker process normally owns one core.
/// The micro-kernel is `GEMMKernel.selected` (the best one for this CPU, or `COHORT_GEMM_KERNEL`).
public func sgemm(
    transA: Transpose, transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    threads: Int = 1
) {
    sgemm(
        transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
        beta: beta, c: c, ldc: ldc, threads: threads, kernel: .selected)
}

/// `sgemm` with a named micro-kernel (tests and benchmarks force each one); it must be supported by this CPU.
public func sgemm(
    transA: Transpose, transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    threads: Int = 1,
    kernel: GEMMKernel
) {
    precondition(ldb >= max(1, transB == .none ? n : k), "sgemm: ldb=\(ldb) too small")
    run(
        GEMMOperands(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
            b: b, ldb: ldb, beta: beta, c: c, ldc: ldc),
        threads: threads, kernel: kernel)
}

/// Checks what every product shares, then runs `op` on `kernel`'s blocking in `threads` strips of C.
private func run(_ op: GEMMOperands, threads: Int, kernel: GEMMKernel) {
    let (m, n, k) = (op.m, op.n, op.k)
    precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
    precondition(op.ldc >= max(1, n), "sgemm: ldc=\(op.ldc) < n=\(n)")
    precondition(op.lda >= max(1, op.transA == .none ? k : m), "sgemm: lda=\(op.lda) too small")
    precondition(kernel.isSupported, "sgemm: kernel \(kernel) is not supported by this CPU")
    if m == 0 || n == 0 { return }
    if k == 0 || op.alpha == 0 {
        scaleMatrix(op.c, rows: m, cols: n, ldc: op.ldc, by: op.beta)
        return
    }
    guard let entry = KernelRegistry.sgemm[KernelKey(family: kernel, element: .float32)] else {
        preconditionFailure("sgemm: this build has no fp32 kernels for \(kernel)")
    }
    if NarrowKernels.suits(op), let narrow = entry.narrow {
        narrow.run(op, threads: threads)
        return
    }
    if op.bPanels == nil, favoursTransposedProduct(m: m, n: n, mr: entry.blocking.mr, nr: entry.blocking.nr) {
        runTransposed(op, entry: entry, threads: threads)
        return
    }
    runBlocked(op, entry: entry, threads: threads)
}

private func runBlocked(_ op: GEMMOperands, entry: SgemmEntry, threads: Int) {
    let blk = entry.blocking
    let kernels = entry.kernels
    let parts = GEMMPartition(m: op.m, n: op.n, k: op.k, mr: blk.mr, nr: blk.nr, threads: threads)
    runParallel(parts.count) { t in
        let (rows, cols) = parts.part(t)
        if rows.isEmpty || cols.isEmpty { return }
        kernels.runBlocked(blk, op.strip(rows: rows, cols: cols))
    }
}

/// Whether Cᵀ = op(B)ᵀ·op(A)ᵀ fills the register tiles much better than C = op(A)·op(B): a C narrower than a
/// tile's nr columns (a classifier's 10-wide output layer against AVX-512's 32) leaves most lanes of every tile
/// idle, while its transpose puts those few columns in the tile's mr rows. The share of a tile's lanes each way is
/// compared (with a margin: the transpose costs a pass over C).
func favoursTransposedProduct(m: Int, n: Int, mr: Int, nr: Int) -> Bool {
    func used(_ extent: Int, _ tile: Int) -> Double { Double(extent) / Double((extent + tile - 1) / tile * tile) }
    return used(n, nr) * used(m, mr) < 0.75 * used(m, nr) * used(n, mr)
}

/// C = α·op(A)·op(B) + β·C as T = α·op(B)ᵀ·op(A)ᵀ (n × m, in a scratch buffer), then C = Tᵀ + β·C. op(B)ᵀ is B
/// read with the other transpose flag, and likewise op(A)ᵀ, so nothing is copied beforehand.
private func runTransposed(_ op: GEMMOperands, entry: SgemmEntry, threads: Int) {
    let (m, n) = (op.m, op.n)
    // On a cache line, as the narrow kernels' scratch: the kernels' whole-vector stores into T would otherwise split
    // lines whenever malloc's 16-byte alignment lands off one.
    let t = UnsafeMutableRawPointer.allocate(byteCount: m * n * MemoryLayout<Float>.stride, alignment: 64)
        .bindMemory(to: Float.self, capacity: m * n)
    defer { t.deallocate() }
    let swapped = GEMMOperands(
        transA: op.transB == .none ? .transpose : .none, transB: op.transA == .none ? .transpose : .none,
        m: n, n: m, k: op.k, alpha: op.alpha, a: op.b, lda: op.ldb, b: op.a, ldb: op.lda, beta: 0, c: t, ldc: m)
    runBlocked(swapped, entry: entry, threads: threads)
    for i in 0..<m {
        let row = op.c + i * op.ldc
        if op.beta == 0 {
            for j in 0..<n { row[j] = t[j * m + i] }
        } else {
            for j in 0..<n { row[j] = t[j * m + i] + op.beta * row[j] }
        }
    }
}

/// A k × n operand B that is never stored: the GEMM asks it for its packed panels instead of reading a matrix.
/// A convolution's im2col matrix is one (implicit GEMM): packing its panels straight from the image saves writing
/// the columns out and reading them back.
public protocol GEMMBPanels: Sendable {
    /// Writes rows `p0..<p0+depth`, columns `j0..<j0+cols` of B as `nr`-column panels: element (p, q·nr + j) to
    /// `dst[q·nr·depth + p·nr + j]`, the last panel zero-filled past `cols` (the layout `packB` writes).
    func pack(p0: Int, depth: Int, j0: Int, cols: Int, nr: Int, into dst: UnsafeMutablePointer<Float>)
}

/// C = α·op(A)·B + β·C with B given by its panels (`GEMMBPanels`): the blocking, kernels and threads of `sgemm`.
public func sgemm(
    transA: Transpose, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    panels: any GEMMBPanels, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = 1,
    kernel: GEMMKernel = .selected
) {
    run(
        GEMMOperands(
            transA: transA, transB: .none, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
            b: UnsafePointer(c), ldb: max(1, n), beta: beta, c: c, ldc: ldc, bPanels: panels),
        threads: threads, kernel: kernel)
}

/// C = β·C over an m×n window (β = 0 writes zeros, ignoring NaN).
func scaleMatrix(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ldc: Int, by beta: Float) {
    if beta == 1 { return }
    for i in 0..<rows {
        let row = c + i * ldc
        if beta == 0 {
            row.update(repeating: 0, count: cols)
        } else {
            for j in 0..<cols { row[j] *= beta }
        }
    }
}

/// The operands of one call, or of one thread's strip of it, carried to worker threads. Threads write disjoint
/// strips of C, so sharing is safe.
struct GEMMOperands: @unchecked Sendable {
    let transA: Transpose, transB: Transpose
    let m: Int, n: Int, k: Int
    let alpha: Float
    let a: UnsafePointer<Float>, lda: Int
    let b: UnsafePointer<Float>, ldb: Int
    let beta: Float
    let c: UnsafeMutablePointer<Float>, ldc: Int
    /// op(B) packed from another source than a stored matrix (then `b` is not read): see `GEMMBPanels`.
    var bPanels: (any GEMMBPanels)? = nil
    /// The first column of op(B) this strip covers, for `bPanels` (a stored B moves its pointer instead).
    var bColumn0 = 0

    /// The rows × cols sub-block of C, with the parts of op(A) and op(B) it reads.
    func strip(rows: Range<Int>, cols: Range<Int>) -> GEMMOperands {
        let aSub = transA == .none ? a + rows.lowerBound * lda : a + rows.lowerBound
        let bSub = bPanels != nil ? b : transB == .none ? b + cols.lowerBound : b + cols.lowerBound * ldb
        return GEMMOperands(
            transA: transA, transB: transB, m: rows.count, n: cols.count, k: k, alpha: alpha,
            a: aSub, lda: lda, b: bSub, ldb: ldb, beta: beta,
            c: c + rows.lowerBound * ldc + cols.lowerBound, ldc: ldc, bPanels: bPanels,
            bColumn0: bColumn0 + cols.lowerBound)
    }
}

/// How C is split among threads: into strips along whichever dimension has more register tiles, each strip a
/// whole number of tiles, so every thread runs the full blocked algorithm on its own strip with its own packing.
struct GEMMPartition {
    let m: Int, n: Int
    let alongColumns: Bool
    let step: Int
    let count: Int

    /// Below this many flops per thread, thread start-up costs more than it saves.
    static let minFlopsPerThread = 4_000_000

    init(m: Int, n: Int, k: Int, mr: Int, nr: Int, threads: Int) {
        self.m = m
        self.n = n
        let rowTiles = (m + mr - 1) / mr
        let colTiles = (n + nr - 1) / nr
        alongColumns = colTiles >= rowTiles
        let tiles = alongColumns ? colTiles : rowTiles
        let byWork = max(1, 2 * m * n * k / GEMMPartition.minFlopsPerThread)
        let wanted = max(1, min(threads, tiles, byWork))
        let tilesPerPart = (tiles + wanted - 1) / wanted
        step = tilesPerPart * (alongColumns ? nr : mr)
        count = ((alongColumns ? n : m) + step - 1) / step
    }

    func part(_ t: Int) -> (rows: Range<Int>, cols: Range<Int>) {
        let extent = alongColumns ? n : m
        let range = (t * step)..<min(extent, (t + 1) * step)
        return alongColumns ? (0..<m, range) : (range, 0..<n)
    }
}
