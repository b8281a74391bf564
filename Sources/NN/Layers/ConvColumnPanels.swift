import Tensors

/// A chunk's im2col matrix as the GEMM's B operand, never stored (implicit GEMM): each packed panel is filled
/// straight from the input image. The explicit path wrote the columns (in·k·k × batch·P floats) and the GEMM read
/// them back to pack them; this packs the same values, in the same order, in one pass.
///
/// Row kk of the matrix (within group g's rows) is tap (c, ki, kj) with c = `channel0` + kk / k², column
/// b·P + oh·Wo + ow is output position (oh, ow) of example b, and the entry is
/// x[b, c, oh − pad + ki, ow − pad + kj], 0 in the padding, as `im2col` writes it. Only for "same" convolutions
/// (`ConvWindow.isSame`: stride 1, output as large as the input), whose panel steps are shifted block copies; Conv2D
/// writes the columns of every other one out.
struct ConvColumnPanels: GEMMBPanels, @unchecked Sendable {
    /// The chunk's first example (NCHW rows of `window.input.count` floats).
    let x: UnsafePointer<Float>
    let window: ConvWindow
    /// The first input channel of the group whose rows this is.
    let channel0: Int

    func pack(p0: Int, depth: Int, j0: Int, cols: Int, nr: Int, into dst: UnsafeMutablePointer<Float>) {
        let panelSize = nr * depth
        for p in 0..<depth {
            packRowSame(p0 + p, j0: j0, cols: cols, nr: nr, panelSize: panelSize, into: dst + p * nr)
            for t in cols..<roundUpToMultiple(cols, nr) { dst[(t / nr) * panelSize + p * nr + t % nr] = 0 }
        }
    }

    /// Row `row` of the matrix, columns j0..<j0+cols, into panel step p (`dst` at the first panel's step p). Within
    /// one example's plane, output position q reads input position q + (ki − pad)·W + (kj − pad), so a panel's step
    /// is one shifted block copy; only the columns whose tap falls off the left or right edge, and the positions off
    /// the top or bottom (outside the plane), are zero. Pieces break at panel and example boundaries only.
    private func packRowSame(
        _ row: Int, j0: Int, cols: Int, nr: Int, panelSize: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        let (inp, k) = (window.input, window.kernel)
        let (plane, w) = (inp.positions, inp.width)
        let c = channel0 + row / (k * k)
        let (shift, edges) = window.sameTap(ki: row % (k * k) / k, kj: row % k)
        // Counters kept by addition (a division per piece cost as much as the piece's copy).
        var (b, q) = (j0 / plane, j0 % plane)
        var ow = q % w
        var (t, panel, inPanel) = (0, 0, 0)
        while t < cols {
            let run = min(cols - t, plane - q, nr - inPanel)
            let d = dst + panel * panelSize + inPanel
            let src = x + (b * inp.channels + c) * plane
            // The part of q..<q+run whose shifted source lies inside the plane is copied; the rest is zero.
            let lo = min(max(q, -shift), q + run)
            let hi = max(min(q + run, plane - shift), lo)
            if lo > q { d.update(repeating: 0, count: lo - q) }
            copyFloats(from: src + lo + shift, into: d + (lo - q), count: hi - lo)
            if q + run > hi { (d + (hi - q)).update(repeating: 0, count: q + run - hi) }
            edges.zero(run, startingAtColumn: ow, into: d)
            t += run
            inPanel += run
            if inPanel == nr { (panel, inPanel) = (panel + 1, 0) }
            q += run
            ow += run
            while ow >= w { ow -= w }
            if q == plane { (b, q, ow) = (b + 1, 0, 0) }
        }
    }
}

/// The output columns of a "same" convolution's tap that fall off the input's left or right edge.
struct EdgeColumns {
    let width: Int
    /// Columns 0..<left and rightStart..<width are off the edge.
    let left: Int
    let rightStart: Int

    /// Zeros those of `count` consecutive positions (of one plane, the first in column `column`) at `d`.
    @inline(__always)
    func zero(_ count: Int, startingAtColumn column: Int, into d: UnsafeMutablePointer<Float>) {
        guard left > 0 || rightStart < width else { return }
        var (pos, col) = (0, column)
        while pos < count {
            var i = col
            while i < left && pos + i - col < count {
                d[pos + i - col] = 0
                i += 1
            }
            i = max(col, rightStart)
            while i < width && pos + i - col < count {
                d[pos + i - col] = 0
                i += 1
            }
            pos += width - col
            col = 0
        }
    }
}

/// A short copy in 8-float vectors (runs here are at most a panel, 32 floats): a memmove call per run cost more
/// than the copy.
@inline(__always)
private func copyFloats(from src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        UnsafeMutableRawPointer(dst + i).storeBytes(
            of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        dst[i] = src[i]
        i += 1
    }
}

@inline(__always) private func roundUpToMultiple(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }
