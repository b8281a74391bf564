/// The pointers one block's tiles share, read once per block from the operands, plan and workspace.
struct MacroTiles {
    let packedA: UnsafeMutablePointer<Float>, packedB: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    /// C at the block's top-left corner.
    let c: UnsafeMutablePointer<Float>
    let ldc: Int, kc: Int, alpha: Float, beta: Float
}

/// The macro-kernel: the ir loop over the block's row panels and, inside each, the jr loop over its tiles, one
/// micro-kernel call per tile. Every kernel choice was made in `plan`; what is left here are direct calls.
func macroKernel<K: Float32MicroKernels>(_: K.Type, _ plan: BlockPlan, _ op: GEMMOperands, _ ws: GEMMWorkspace) {
    let t = MacroTiles(
        packedA: ws.packedA, packedB: ws.packedB, scratch: ws.tile,
        c: op.c + plan.rows.lowerBound * op.ldc + plan.cols.lowerBound,
        ldc: op.ldc, kc: plan.depth.count, alpha: op.alpha, beta: plan.beta)
    let mcb = plan.rows.count
    var ir = 0
    while ir + K.mr <= mcb {
        fullRowPanel(K.self, plan, op, t, ir: ir)
        ir += K.mr
    }
    if ir < mcb { edgeRowPanel(K.self, plan, t, ir: ir) }
}

/// One row panel of mr rows: the fused A tile first (if the plan has one), then the fused B tiles (first row
/// panel only), whole tiles, and the right edge tile.
@inline(__always)
func fullRowPanel<K: Float32MicroKernels>(_: K.Type, _ plan: BlockPlan, _ op: GEMMOperands, _ t: MacroTiles, ir: Int) {
    let kc = t.kc
    let ncb = plan.cols.count
    let aPanel = UnsafePointer(t.packedA + ir * kc)
    let cRow = t.c + ir * t.ldc
    var jr = 0
    if ir < plan.fusedARows {
        fusedATile(K.self, plan, op, t, ir: ir)
        jr = K.nr
    }
    if ir == 0 {
        assert(plan.fusedBCols.isEmpty || plan.fusedBCols.lowerBound == jr)
        let bSource = op.b + plan.depth.lowerBound * op.ldb + plan.cols.lowerBound
        while jr < plan.fusedBCols.upperBound {
            K.packingB(
                kc: kc, a: aPanel, b: bSource + jr, ldb: op.ldb, packedB: t.packedB + jr * kc,
                c: cRow + jr, ldc: t.ldc, alpha: t.alpha, beta: t.beta)
            jr += K.nr
        }
    }
    while jr + K.nr <= ncb {
        K.full(kc: kc, a: aPanel, b: t.packedB + jr * kc, c: cRow + jr, ldc: t.ldc, alpha: t.alpha, beta: t.beta)
        jr += K.nr
    }
    if jr < ncb { edgeTile(K.self, plan.rightEdge, t, a: aPanel, b: t.packedB + jr * kc, c: cRow + jr) }
}

/// The last row panel when it has fewer than mr rows: every tile is an edge tile.
@inline(__always)
func edgeRowPanel<K: Float32MicroKernels>(_: K.Type, _ plan: BlockPlan, _ t: MacroTiles, ir: Int) {
    let kc = t.kc
    let ncb = plan.cols.count
    let aPanel = UnsafePointer(t.packedA + ir * kc)
    let cRow = t.c + ir * t.ldc
    var jr = 0
    while jr + K.nr <= ncb {
        edgeTile(K.self, plan.bottomEdge, t, a: aPanel, b: t.packedB + jr * kc, c: cRow + jr)
        jr += K.nr
    }
    if jr < ncb { edgeTile(K.self, plan.cornerEdge, t, a: aPanel, b: t.packedB + jr * kc, c: cRow + jr) }
}

/// The first tile of row panel `ir` in the first column block: its kernel reads the A panel from the source
/// and packs it as it goes (the first B panel was packed by the pass).
@inline(__always)
func fusedATile<K: Float32MicroKernels>(_: K.Type, _ plan: BlockPlan, _ op: GEMMOperands, _ t: MacroTiles, ir: Int) {
    let i = plan.rows.lowerBound + ir
    let p = plan.depth.lowerBound
    let packed = t.packedA + ir * t.kc
    let b = UnsafePointer(t.packedB)
    let c = t.c + ir * t.ldc
    switch plan.fusedA {
    case .transposed:
        K.packingA(
            kc: t.kc, a: op.a + p * op.lda + i, lda: op.lda, packedA: packed, b: b, c: c, ldc: t.ldc,
            alpha: t.alpha, beta: t.beta)
    case .rows:
        K.packingARows(
            kc: t.kc, a: op.a + i * op.lda + p, lda: op.lda, packedA: packed, b: b, c: c, ldc: t.ldc,
            alpha: t.alpha, beta: t.beta)
    case .none:
        break
    }
}

/// One edge tile with the kernel the plan chose: straight into C when its tile fits exactly, else computed aside
/// (β = 0) and merged, so nothing outside C is written.
@inline(__always)
func edgeTile<K: Float32MicroKernels>(
    _: K.Type, _ e: EdgeChoice, _ t: MacroTiles, a: UnsafePointer<Float>, b: UnsafeMutablePointer<Float>,
    c: UnsafeMutablePointer<Float>
) {
    if e.exact {
        K.tile(e.kernel, kc: t.kc, a: a, b: b, c: c, ldc: t.ldc, alpha: t.alpha, beta: t.beta)
    } else {
        K.tile(e.kernel, kc: t.kc, a: a, b: b, c: t.scratch, ldc: K.nr, alpha: t.alpha, beta: 0)
        mergeTile(t.scratch, ldt: K.nr, into: c, ldc: t.ldc, rows: e.rows, cols: e.cols, beta: t.beta)
    }
}

/// C[0..<rows, 0..<cols] = T + β·C (β = 0: C = T, ignoring what C held).
@inline(__always)
func mergeTile(
    _ t: UnsafeMutablePointer<Float>, ldt: Int, into c: UnsafeMutablePointer<Float>, ldc: Int,
    rows: Int, cols: Int, beta: Float
) {
    for r in 0..<rows {
        let out = c + r * ldc
        let src = t + r * ldt
        if beta == 0 {
            for j in 0..<cols { out[j] = src[j] }
        } else {
            for j in 0..<cols { out[j] = src[j] + beta * out[j] }
        }
    }
}
