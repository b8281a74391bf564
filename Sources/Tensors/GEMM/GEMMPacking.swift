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
    var j = 0
    var panel = dst
    while j < cols {
        let width = min(nr, cols - j)
        if trans == .none {
            for p in 0..<depth {
                let src = b + (p0 + p) * ldb + j0 + j
                let out = panel + p * nr
                for c in 0..<width { out[c] = src[c] }
            }
        } else {
            // op(B)(p, j) = B(j, p): transpose in strips of 8 steps so reads stay sequential and writes stay in L1.
            var p = 0
            while p < depth {
                let steps = min(8, depth - p)
                for c in 0..<width {
                    let src = b + (j0 + j + c) * ldb + p0 + p
                    for s in 0..<steps { panel[(p + s) * nr + c] = src[s] }
                }
                p += 8
            }
        }
        if width < nr {
            for p in 0..<depth { for c in width..<nr { panel[p * nr + c] = 0 } }
        }
        panel += nr * depth
        j += nr
    }
}
