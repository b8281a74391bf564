/// Which on-the-fly kernel packs the A block during the first column panel.
enum FusedAPacking: Sendable {
    case none
    /// `packingA`: Aᵀ as stored.
    case transposed
    /// `packingARows`: A as stored.
    case rows
}

/// How one mc × kc block of op(A) is packed, decided once per (ic, pc) block.
///
/// With a whole first column panel, its kernel calls pack the full row panels of A (A as stored, or Aᵀ whose
/// kc-row source block spans at most `GEMMBlocking.onTheFlyPackingLimit`) as they go; only a partial last row
/// panel (zero-padded) is packed by a pass. Only the first column block packs on the fly; later ones reuse it.
struct APackingPlan {
    let fused: FusedAPacking
    /// The rows the fused kernel packs (whole row panels): 0 without one.
    let fusedRows: Int

    init<K: Float32MicroKernels>(_: K.Type, _ op: GEMMOperands, rows: Int, depth: Int, ncMax: Int) {
        if min(ncMax, op.n) < K.nr {
            fused = .none
        } else if op.transA == .transpose {
            let fits = depth * op.lda <= GEMMBlocking.onTheFlyPackingLimit
            fused = fits && K.onTheFly.contains(.aTransposed) ? .transposed : .none
        } else {
            fused = K.onTheFly.contains(.aRows) ? .rows : .none
        }
        fusedRows = fused == .none ? 0 : rows / K.mr * K.mr
    }
}

/// The kernel covering one kind of edge tile of a block (right column, bottom row or corner): the cheapest one
/// whose tile covers it, chosen once per block instead of once per tile.
struct EdgeChoice {
    /// The edge tile's size.
    let rows: Int, cols: Int
    /// −1 for the full-tile kernel, else an index into `edgeTiles` (see `Float32MicroKernels.tile`).
    let kernel: Int
    /// Whether the kernel's tile is exactly the edge tile; otherwise it computes a covering tile aside, and
    /// only the part inside C is merged.
    let exact: Bool

    init<K: Float32MicroKernels>(_: K.Type, rows: Int, cols: Int) {
        var best = TileShape(rows: K.mr, cols: K.nr)
        var index = -1
        for (i, e) in K.edgeTiles.enumerated()
        where e.rows >= rows && e.cols >= cols && e.rows * e.cols < best.rows * best.cols {
            best = e
            index = i
        }
        self.rows = rows
        self.cols = cols
        kernel = index
        exact = best.rows == rows && best.cols == cols
    }
}

/// Everything the macro-kernel needs about one mc × kc × nc block, decided before its loops: where it lies,
/// which tiles pack A or B on the fly, and which kernel covers each kind of edge tile.
struct BlockPlan {
    /// Rows of C and op(A), steps of k, columns of C and op(B).
    let rows: Range<Int>, depth: Range<Int>, cols: Range<Int>
    /// β for this kc block: the caller's on the first, 1 on later ones (they accumulate).
    let beta: Float
    /// The A kernel for the first tile of the first `fusedARows` rows (only in the first column block).
    let fusedA: FusedAPacking
    let fusedARows: Int
    /// Column offsets (whole column panels) whose first-row-panel kernel packs B; empty when none do.
    let fusedBCols: Range<Int>
    /// Kernels for the last column panel (mr × its width), the last row panel (its height × nr) and the corner.
    let rightEdge: EdgeChoice, bottomEdge: EdgeChoice, cornerEdge: EdgeChoice

    init<K: Float32MicroKernels>(
        _: K.Type, _ op: GEMMOperands, a: APackingPlan, rows: Range<Int>, depth: Range<Int>, cols: Range<Int>
    ) {
        self.rows = rows
        self.depth = depth
        self.cols = cols
        beta = depth.lowerBound == 0 ? op.beta : 1
        let firstColumnBlock = cols.lowerBound == 0
        fusedA = firstColumnBlock ? a.fused : .none
        fusedARows = firstColumnBlock ? a.fusedRows : 0
        fusedBCols = BlockPlan.fusedB(
            K.self, op, rows: rows.count, depth: depth.count, cols: cols.count,
            firstFused: fusedA == .none ? 0 : K.nr)
        let lastRows = rows.count % K.mr == 0 ? K.mr : rows.count % K.mr
        let lastCols = cols.count % K.nr == 0 ? K.nr : cols.count % K.nr
        rightEdge = EdgeChoice(K.self, rows: K.mr, cols: lastCols)
        bottomEdge = EdgeChoice(K.self, rows: lastRows, cols: K.nr)
        cornerEdge = EdgeChoice(K.self, rows: lastRows, cols: lastCols)
    }

    /// B as stored with a whole first row panel: the first row panel's kernel calls pack its full column panels
    /// as they go (but the first one when those calls pack A); the rest is packed by a pass.
    private static func fusedB<K: Float32MicroKernels>(
        _: K.Type, _ op: GEMMOperands, rows: Int, depth: Int, cols: Int, firstFused: Int
    ) -> Range<Int> {
        guard K.onTheFly.contains(.b), op.bPanels == nil, op.transB == .none, rows >= K.mr,
            depth * op.ldb <= GEMMBlocking.onTheFlyPackingLimit
        else { return 0..<0 }
        let fused = firstFused..<max(firstFused, cols / K.nr * K.nr)
        return fused.isEmpty ? 0..<0 : fused
    }

    /// Packs the columns of op(B) that no kernel packs on the fly (all of them when none does).
    func packBOutsideKernels<K: Float32MicroKernels>(
        _: K.Type, _ op: GEMMOperands, into packedB: UnsafeMutablePointer<Float>
    ) {
        let nr = K.nr
        let kc = depth.count
        let ncb = cols.count
        if let panels = op.bPanels {
            panels.pack(
                p0: depth.lowerBound, depth: kc, j0: op.bColumn0 + cols.lowerBound, cols: ncb, nr: nr, into: packedB)
            return
        }
        if fusedBCols.lowerBound > 0 {
            packB(
                K.self, op.transB, op.b, ldb: op.ldb, p0: depth.lowerBound, depth: kc, j0: cols.lowerBound,
                cols: fusedBCols.lowerBound, into: packedB)
        }
        if fusedBCols.upperBound < ncb {
            packB(
                K.self, op.transB, op.b, ldb: op.ldb, p0: depth.lowerBound, depth: kc,
                j0: cols.lowerBound + fusedBCols.upperBound, cols: ncb - fusedBCols.upperBound,
                into: packedB + fusedBCols.upperBound * kc)
        }
    }
}
