/// Packing copies a block of op(A) or op(B) into the order the micro-kernel reads it: contiguous micro-panels,
/// zero-padded to whole tiles. This is where transposes and leading dimensions are absorbed, so the kernel sees
/// one layout only, and the padded tiles make every edge a full tile.

/// Packs rows `i0..<i0+rows`, columns `p0..<p0+depth` of op(A) into micro-panels of `mr` rows:
/// panel q holds element (q·mr + r, p) at `dst[q·mr·depth + p·mr + r]`.
@inline(__always)
func packA(
    _ trans: Transpose, _ a: UnsafePointer<Float>, lda: Int,
    i0: Int, rows: Int, p0: Int, depth: Int, mr: Int, into dst: UnsafeMutablePointer<Float>
) {
    var i = 0
    var panel = dst
    while i < rows {
        let height = min(mr, rows - i)
        if trans == .none {
            // Rows of A are contiguous along p: gather a column of the panel from `height` rows.
            for r in 0..<height {
                let src = a + (i0 + i + r) * lda + p0
                for p in 0..<depth { panel[p * mr + r] = src[p] }
            }
        } else {
            // op(A)(i, p) = A(p, i): each step p is `height` contiguous floats.
            for p in 0..<depth {
                let src = a + (p0 + p) * lda + i0 + i
                let out = panel + p * mr
                for r in 0..<height { out[r] = src[r] }
            }
        }
        if height < mr {
            for p in 0..<depth { for r in height..<mr { panel[p * mr + r] = 0 } }
        }
        panel += mr * depth
        i += mr
    }
}

/// Packs rows `p0..<p0+depth`, columns `j0..<j0+cols` of op(B) into micro-panels of `nr` columns:
/// panel q holds element (p, q·nr + j) at `dst[q·nr·depth + p·nr + j]`.
@inline(__always)
func packB(
    _ trans: Transpose, _ b: UnsafePointer<Float>, ldb: Int,
    p0: Int, depth: Int, j0: Int, cols: Int, nr: Int, into dst: UnsafeMutablePointer<Float>
) {
    let panelSize = nr * depth
    if trans == .none {
        // Row by row, so B is read as long contiguous runs (what the hardware prefetcher follows) rather than
        // nr-float pieces a row stride apart; each run is scattered into the panels' step p.
        let full = cols / nr, tail = cols - full * nr
        for p in 0..<depth {
            let src = b + (p0 + p) * ldb + j0
            var out = dst + p * nr
            for q in 0..<full {
                let s = src + q * nr
                for c in 0..<nr { out[c] = s[c] }
                out += panelSize
            }
            if tail > 0 {
                let s = src + full * nr
                for c in 0..<tail { out[c] = s[c] }
                for c in tail..<nr { out[c] = 0 }
            }
        }
        return
    }
    // op(B)(p, j) = B(j, p): transpose 4 × 4 blocks in SIMD registers, reading 4 rows of B at a time.
    var j = 0
    var panel = dst
    while j < cols {
        let width = min(nr, cols - j)
        var c = 0
        while c + 4 <= width {
            let r0 = b + (j0 + j + c) * ldb + p0, r1 = r0 + ldb, r2 = r1 + ldb, r3 = r2 + ldb
            var p = 0
            while p + 4 <= depth {
                let x0 = loadVector4(r0 + p), x1 = loadVector4(r1 + p), x2 = loadVector4(r2 + p), x3 = loadVector4(r3 + p)
                storeVector4(SIMD4(x0[0], x1[0], x2[0], x3[0]), panel + p * nr + c)
                storeVector4(SIMD4(x0[1], x1[1], x2[1], x3[1]), panel + (p + 1) * nr + c)
                storeVector4(SIMD4(x0[2], x1[2], x2[2], x3[2]), panel + (p + 2) * nr + c)
                storeVector4(SIMD4(x0[3], x1[3], x2[3], x3[3]), panel + (p + 3) * nr + c)
                p += 4
            }
            while p < depth {
                let out = panel + p * nr + c
                out[0] = r0[p]; out[1] = r1[p]; out[2] = r2[p]; out[3] = r3[p]
                p += 1
            }
            c += 4
        }
        while c < width {
            let src = b + (j0 + j + c) * ldb + p0
            for p in 0..<depth { panel[p * nr + c] = src[p] }
            c += 1
        }
        if width < nr {
            for p in 0..<depth { for c in width..<nr { panel[p * nr + c] = 0 } }
        }
        panel += panelSize
        j += nr
    }
}

@inline(__always)
func loadVector4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
}

@inline(__always)
func storeVector4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
}
