import Foundation

/// Scratch memory for one thread's packed blocks and edge tile, 64-byte aligned so packed panels start on cache
/// lines. Sized for the largest blocks of a kernel's table, and recycled through `GEMMWorkspace.pool`: a fresh
/// megabyte per call would cost page faults comparable to a whole small product.
final class GEMMWorkspace: @unchecked Sendable {
    let packedA: UnsafeMutablePointer<Float>
    let packedB: UnsafeMutablePointer<Float>
    let tile: UnsafeMutablePointer<Float>
    let aCapacity: Int, bCapacity: Int, tileCapacity: Int
    private let raw: UnsafeMutableRawPointer

    init(aCount: Int, bCount: Int, tileCount: Int) {
        aCapacity = aCount; bCapacity = bCount; tileCapacity = tileCount
        let aBytes = roundUp(aCount * 4, 64), bBytes = roundUp(bCount * 4, 64)
        raw = UnsafeMutableRawPointer.allocate(byteCount: aBytes + bBytes + tileCount * 4, alignment: 64)
        packedA = raw.bindMemory(to: Float.self, capacity: aCount)
        packedB = (raw + aBytes).bindMemory(to: Float.self, capacity: bCount)
        tile = (raw + aBytes + bBytes).bindMemory(to: Float.self, capacity: tileCount)
    }

    deinit { raw.deallocate() }

    func fits(aCount: Int, bCount: Int, tileCount: Int) -> Bool {
        aCount <= aCapacity && bCount <= bCapacity && tileCount <= tileCapacity
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [GEMMWorkspace] = []

    /// Runs `body` with a workspace of at least the given sizes, taken from (and returned to) the pool.
    static func with<R>(aCount: Int, bCount: Int, tileCount: Int, _ body: (GEMMWorkspace) -> R) -> R {
        lock.lock()
        let index = free.firstIndex { $0.fits(aCount: aCount, bCount: bCount, tileCount: tileCount) }
        let ws = index.map { free.remove(at: $0) }
        lock.unlock()
        let workspace = ws ?? GEMMWorkspace(aCount: aCount, bCount: bCount, tileCount: tileCount)
        defer {
            lock.lock()
            if free.count < 8 { free.append(workspace) }
            lock.unlock()
        }
        return body(workspace)
    }
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

/// The BLIS loop nest on one thread, for m, n, k ≥ 1:
///   ic (mc rows of A) → pc (kc deep) → pack A → jc (nc columns of B) → pack B → ir (mr) → jr (nr) → micro-kernel.
/// Where the kernel family has packing kernels and the source block is small enough
/// (`GEMMBlocking.onTheFlyPackingLimit`), B as stored is packed by the first row panel's kernel calls and Aᵀ as
/// stored by the first column panel's, instead of in passes of their own: at m = 128 the B pass is amortised over
/// only 11 row panels, and folding it into the FMAs hides its memory traffic.
/// The A micro-panel (mr × kc) stays in L1 across the jr sweep; the packed B block (kc × nc) stays in L2 across
/// the ir sweep. β applies on the first kc block only; later blocks accumulate (β = 1).
func blockedSgemm(
    _ blk: GEMMBlocking,
    transA: Transpose, transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let mr = blk.mr, nr = blk.nr, kernel = blk.kernel
    let kcMax = k <= 2 * blk.kcShallow ? evenBlock(k, limit: blk.kcShallow, unit: 4) : evenBlock(k, limit: blk.kc, unit: 4)
    let mcMax = evenBlock(m, limit: blk.mc, unit: mr)
    let ncMax = evenBlock(n, limit: blk.nc, unit: nr)
    GEMMWorkspace.with(aCount: roundUp(mcMax, mr) * kcMax, bCount: roundUp(ncMax, nr) * kcMax, tileCount: mr * nr) { ws in
    let tile = ws.tile
    var ic = 0
    while ic < m {
        let mcb = min(mcMax, m - ic)
        var pc = 0
        while pc < k {
            let kcb = min(kcMax, k - pc)
            let betaBlock: Float = pc == 0 ? beta : 1
            // With a whole first column panel, its kernel calls pack the full row panels of A (A as stored, or Aᵀ
            // whose kc-row source block spans at most the limit) as they go; only a partial last row panel
            // (zero-padded) is packed here.
            let packingA = min(ncMax, n) < nr ? nil
                : transA == .transpose ? (kcb * lda <= GEMMBlocking.onTheFlyPackingLimit ? blk.packingAKernel : nil)
                : blk.packingARowsKernel
            let fullRows = packingA == nil ? 0 : mcb / mr * mr
            if fullRows < mcb {
                packA(transA, a, lda: lda, i0: ic + fullRows, rows: mcb - fullRows, p0: pc, depth: kcb, mr: mr,
                      into: ws.packedA + fullRows * kcb)
            }
            var jc = 0
            while jc < n {
                let ncb = min(ncMax, n - jc)
                let packingAHere = jc == 0 ? packingA : nil
                // B as stored with a whole first row panel: the first row panel's kernel calls pack its full column
                // panels as they go (but the first one when those calls pack A); the rest is packed here.
                let packingB = transB == .none && mcb >= mr && kcb * ldb <= GEMMBlocking.onTheFlyPackingLimit ? blk.packingBKernel : nil
                let firstFused = packingAHere == nil ? 0 : nr
                let fusedCols = packingB == nil ? 0..<0 : firstFused..<max(firstFused, ncb / nr * nr)
                if fusedCols.isEmpty {
                    packB(transB, b, ldb: ldb, p0: pc, depth: kcb, j0: jc, cols: ncb, nr: nr, into: ws.packedB)
                } else {
                    if fusedCols.lowerBound > 0 {
                        packB(transB, b, ldb: ldb, p0: pc, depth: kcb, j0: jc, cols: fusedCols.lowerBound, nr: nr,
                              into: ws.packedB)
                    }
                    if fusedCols.upperBound < ncb {
                        packB(transB, b, ldb: ldb, p0: pc, depth: kcb, j0: jc + fusedCols.upperBound,
                              cols: ncb - fusedCols.upperBound, nr: nr, into: ws.packedB + fusedCols.upperBound * kcb)
                    }
                }
                var ir = 0
                while ir < mcb {
                    let rows = min(mr, mcb - ir)
                    let aPanel = UnsafePointer(ws.packedA + ir * kcb)
                    var jr = 0
                    while jr < ncb {
                        let cols = min(nr, ncb - jr)
                        let bPanel = UnsafePointer(ws.packedB + jr * kcb)
                        let cTile = c + (ic + ir) * ldc + jc + jr
                        if jr == 0, ir < fullRows, let packingAHere {
                            let aSource = transA == .transpose ? a + pc * lda + ic + ir : a + (ic + ir) * lda + pc
                            packingAHere(kcb, aSource, lda, ws.packedA + ir * kcb, bPanel, cTile, ldc,
                                         alpha, betaBlock)
                        } else if ir == 0, fusedCols.contains(jr), let packingB {
                            packingB(kcb, aPanel, b + pc * ldb + jc + jr, ldb, ws.packedB + jr * kcb, cTile, ldc,
                                     alpha, betaBlock)
                        } else if rows == mr && cols == nr {
                            kernel(kcb, aPanel, bPanel, cTile, ldc, alpha, betaBlock)
                        } else {
                            let edge = blk.edgeKernel(rows: rows, cols: cols)
                            if edge.rows == rows && edge.cols == cols {
                                edge.kernel(kcb, aPanel, bPanel, cTile, ldc, alpha, betaBlock)
                            } else {
                                // Compute the covering tile aside, then merge the part inside C.
                                edge.kernel(kcb, aPanel, bPanel, tile, nr, alpha, 0)
                                mergeTile(tile, ldt: nr, into: cTile, ldc: ldc, rows: rows, cols: cols, beta: betaBlock)
                            }
                        }
                        jr += nr
                    }
                    ir += mr
                }
                jc += ncb
            }
            pc += kcb
        }
        ic += mcb
    }
    }
}

/// C[0..<rows, 0..<cols] = T + β·C (β = 0: C = T, ignoring what C held).
@inline(__always)
func mergeTile(_ t: UnsafeMutablePointer<Float>, ldt: Int, into c: UnsafeMutablePointer<Float>, ldc: Int,
               rows: Int, cols: Int, beta: Float) {
    for r in 0..<rows {
        let out = c + r * ldc, src = t + r * ldt
        if beta == 0 {
            for j in 0..<cols { out[j] = src[j] }
        } else {
            for j in 0..<cols { out[j] = src[j] + beta * out[j] }
        }
    }
}
