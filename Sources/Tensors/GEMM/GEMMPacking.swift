/// Packing copies a block of op(A) or op(B) into the order the micro-kernel reads it: micro-panels of `width`
/// (mr rows of A or nr columns of B), each `depth` steps of `width` contiguous floats, zero-padded to whole
/// tiles. This is where transposes and leading dimensions are absorbed, so the kernel sees one layout only, and
/// the padding makes every edge tile a whole tile.
///
/// Both operands reduce to two source layouts: the panel's `width` direction is contiguous in memory (B as
/// stored, Aᵀ) → `packCopying`; or the `depth` direction is (A as stored, Bᵀ) → `packTransposing`.

/// Packs rows `i0..<i0+rows`, columns `p0..<p0+depth` of op(A) into panels of `mr` rows:
/// element (q·mr + r, p) goes to `dst[q·mr·depth + p·mr + r]`.
@inline(__always)
func packA(
    _ trans: Transpose, _ a: UnsafePointer<Float>, lda: Int,
    i0: Int, rows: Int, p0: Int, depth: Int, mr: Int, into dst: UnsafeMutablePointer<Float>
) {
    if trans == .none {
        packTransposing(a + i0 * lda + p0, ld: lda, count: rows, depth: depth, width: mr, into: dst)
    } else {
        packCopying(a + p0 * lda + i0, ld: lda, count: rows, depth: depth, width: mr, into: dst)
    }
}

/// Packs rows `p0..<p0+depth`, columns `j0..<j0+cols` of op(B) into panels of `nr` columns:
/// element (p, q·nr + j) goes to `dst[q·nr·depth + p·nr + j]`.
/// B as stored takes the family's own copying pass (`packCopyingB`).
@inline(__always)
func packB<K: Float32MicroKernels>(
    _: K.Type, _ trans: Transpose, _ b: UnsafePointer<Float>, ldb: Int,
    p0: Int, depth: Int, j0: Int, cols: Int, into dst: UnsafeMutablePointer<Float>
) {
    if trans == .none {
        K.packCopyingB(b + p0 * ldb + j0, ld: ldb, count: cols, depth: depth, into: dst)
    } else {
        packTransposing(b + j0 * ldb + p0, ld: ldb, count: cols, depth: depth, width: K.nr, into: dst)
    }
}

/// Source step p is the row `src + p·ld`, holding `count` floats along the panels. Walks the source row by row,
/// so it is read in long contiguous runs (what the hardware prefetcher follows), scattering each run into the
/// panels' step p.
@inline(__always)
func packCopying(
    _ src: UnsafePointer<Float>, ld: Int, count: Int, depth: Int, width: Int, into dst: UnsafeMutablePointer<Float>
) {
    let panelSize = width * depth
    let full = count / width
    let tail = count - full * width
    for p in 0..<depth {
        let row = src + p * ld
        var out = dst + p * width
        for q in 0..<full {
            let s = row + q * width
            for c in 0..<width { out[c] = s[c] }
            out += panelSize
        }
        if tail > 0 {
            let s = row + full * width
            for c in 0..<tail { out[c] = s[c] }
            for c in tail..<width { out[c] = 0 }
        }
    }
}

/// Panel element c comes from source row `src + c·ld`, contiguous along depth. Transposes 4 × 4 blocks in SIMD
/// registers: 4 source rows are read side by side and written as whole 4-float pieces of 4 panel steps.
@inline(__always)
func packTransposing(
    _ src: UnsafePointer<Float>, ld: Int, count: Int, depth: Int, width: Int, into dst: UnsafeMutablePointer<Float>
) {
    var j = 0
    var panel = dst
    while j < count {
        let live = min(width, count - j)
        var c = 0
        // 8 source rows at a time: more independent read streams in flight, which is what bounds this loop.
        while c + 8 <= live {
            let r0 = src + (j + c) * ld
            var p = 0
            while p + 4 <= depth {
                transpose4x4(r0 + p, ld: ld, to: panel + p * width + c, width: width)
                transpose4x4(r0 + 4 * ld + p, ld: ld, to: panel + p * width + c + 4, width: width)
                p += 4
            }
            while p < depth {
                let out = panel + p * width + c
                for r in 0..<8 { out[r] = r0[r * ld + p] }
                p += 1
            }
            c += 8
        }
        while c + 4 <= live {
            let r0 = src + (j + c) * ld
            let r1 = r0 + ld
            let r2 = r1 + ld
            let r3 = r2 + ld
            var p = 0
            while p + 4 <= depth {
                transpose4x4(r0 + p, ld: ld, to: panel + p * width + c, width: width)
                p += 4
            }
            while p < depth {
                let out = panel + p * width + c
                out[0] = r0[p]
                out[1] = r1[p]
                out[2] = r2[p]
                out[3] = r3[p]
                p += 1
            }
            c += 4
        }
        while c < live {
            let row = src + (j + c) * ld
            for p in 0..<depth { panel[p * width + c] = row[p] }
            c += 1
        }
        if live < width {
            for p in 0..<depth { for c in live..<width { panel[p * width + c] = 0 } }
        }
        panel += width * depth
        j += width
    }
}

/// Reads 4 floats from each of 4 rows `ld` apart and writes them as 4 columns `width` apart.
@inline(__always)
func transpose4x4(_ src: UnsafePointer<Float>, ld: Int, to dst: UnsafeMutablePointer<Float>, width: Int) {
    let x0 = loadVector4(src)
    let x1 = loadVector4(src + ld)
    let x2 = loadVector4(src + 2 * ld)
    let x3 = loadVector4(src + 3 * ld)
    storeVector4(SIMD4(x0[0], x1[0], x2[0], x3[0]), dst)
    storeVector4(SIMD4(x0[1], x1[1], x2[1], x3[1]), dst + width)
    storeVector4(SIMD4(x0[2], x1[2], x2[2], x3[2]), dst + 2 * width)
    storeVector4(SIMD4(x0[3], x1[3], x2[3], x3[3]), dst + 3 * width)
}

@inline(__always)
func loadVector4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
}

@inline(__always)
func storeVector4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
}
