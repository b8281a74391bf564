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
        aCapacity = aCount
        bCapacity = bCount
        tileCapacity = tileCount
        let aBytes = roundUp(aCount * 4, 64)
        let bBytes = roundUp(bCount * 4, 64)
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

/// The BLIS loop nest on one thread, for m, n, k ≥ 1:
///   ic (mc rows of A) → pc (kc deep) → pack A → jc (nc columns of B) → pack B → macro-kernel (ir → jr → tile).
/// This is the block walk; each block's packing and kernel choices are its `BlockPlan`, and `macroKernel` runs
/// the tiles. Generic over the family's kernels and specialised per family, so the tile loops call them directly.
/// The A micro-panel (mr × kc) stays in L1 across the jr sweep; the packed B block (kc × nc) stays in L2 across
/// the ir sweep. β applies on the first kc block only; later blocks accumulate (β = 1).
func blockedSgemm<K: Float32MicroKernels>(_: K.Type, _ blk: GEMMBlocking, _ op: GEMMOperands) {
    let (kcMax, mcMax, ncMax) = blk.blockSizes(m: op.m, n: op.n, k: op.k)
    let aCount = roundUp(mcMax, K.mr) * kcMax
    let bCount = roundUp(ncMax, K.nr) * kcMax
    GEMMWorkspace.with(aCount: aCount, bCount: bCount, tileCount: K.mr * K.nr) { ws in
        var ic = 0
        while ic < op.m {
            let rows = ic..<min(op.m, ic + mcMax)
            var pc = 0
            while pc < op.k {
                let depth = pc..<min(op.k, pc + kcMax)
                rowBlock(K.self, op, ws, rows: rows, depth: depth, ncMax: ncMax)
                pc = depth.upperBound
            }
            ic = rows.upperBound
        }
    }
}

/// One mc × kc block of op(A) against every nc column block of op(B): packs the part of A that no kernel packs
/// on the fly, then per column block plans, packs B and runs the macro-kernel.
func rowBlock<K: Float32MicroKernels>(
    _: K.Type, _ op: GEMMOperands, _ ws: GEMMWorkspace, rows: Range<Int>, depth: Range<Int>, ncMax: Int
) {
    let aPlan = APackingPlan(K.self, op, rows: rows.count, depth: depth.count, ncMax: ncMax)
    if aPlan.fusedRows < rows.count {
        packA(
            op.transA, op.a, lda: op.lda, i0: rows.lowerBound + aPlan.fusedRows, rows: rows.count - aPlan.fusedRows,
            p0: depth.lowerBound, depth: depth.count, mr: K.mr, into: ws.packedA + aPlan.fusedRows * depth.count)
    }
    var jc = 0
    while jc < op.n {
        let cols = jc..<min(op.n, jc + ncMax)
        let plan = BlockPlan(K.self, op, a: aPlan, rows: rows, depth: depth, cols: cols)
        plan.packBOutsideKernels(K.self, op, into: ws.packedB)
        macroKernel(K.self, plan, op, ws)
        jc = cols.upperBound
    }
}
