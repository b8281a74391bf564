import CInt8Kernels

/// C = A·B for signed int8 A (m × k, row stride `lda`) and B (k × n, `ldb`), accumulated exactly in int32 and
/// stored through `output` (int32, dequantized fp32 or requantized int8; see `Int8GEMMOutput`).
/// Packs B for this call; layers that reuse B pack it once (`Int8PackedMatrix`) and call the other overload.
public func int8Gemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Int8>, lda: Int,
    b: UnsafePointer<Int8>, ldb: Int,
    output: Int8GEMMOutput,
    kernel: GEMMKernel = .selectedInt8
) {
    let packed = Int8PackedMatrix(b: b, ldb: ldb, k: k, n: n, kernel: kernel)
    int8Gemm(m: m, a: a, lda: lda, b: packed, output: output)
}

/// C = A·B with B packed beforehand (its kernel family is the one used). The BLIS loop nest with the whole
/// depth in one block (int8 panels are a quarter of fp32's, so k·nr bytes of B stay in L1 for any layer width
/// here): row blocks of packed A (L2) → B column panels (L1) → A micro-panels → one register tile, whose store
/// requantizes. Any m ≥ 0; one thread.
public func int8Gemm(m: Int, a: UnsafePointer<Int8>, lda: Int, b: Int8PackedMatrix, output: Int8GEMMOutput) {
    precondition(m >= 0, "int8 GEMM: negative m=\(m)")
    precondition(lda >= max(1, b.k), "int8 GEMM: lda=\(lda) < k=\(b.k)")
    precondition(output.ldc >= max(1, b.n), "int8 GEMM: ldc=\(output.ldc) < n=\(b.n)")
    if m == 0 || b.n == 0 { return }
    let e = b.entry
    let rowBytes = max(1, b.groups * e.format.depth * e.format.elementSize)
    let blockRows = max(e.mr, e.aBlockBytes / rowBytes / e.mr * e.mr)
    let aBlock = UnsafeMutableRawPointer.allocate(byteCount: roundUp(min(m, blockRows), e.mr) * rowBytes, alignment: 64)
    defer { aBlock.deallocate() }
    var store = Int8StoreState(output, correction: b.correction)
    var i0 = 0
    while i0 < m {
        let rows = min(blockRows, m - i0)
        packInt8A(e.format, a + i0 * lda, lda: lda, rows: rows, k: b.k, mr: e.mr, into: aBlock)
        int8RowBlock(b, aBlock, rowBytes: rowBytes, rows: i0..<(i0 + rows), store: &store)
        i0 += rows
    }
}

/// Every tile of one packed row block: B panels outside (each stays in L1 across the block), A micro-panels inside.
private func int8RowBlock(
    _ b: Int8PackedMatrix, _ aBlock: UnsafeMutableRawPointer, rowBytes: Int, rows: Range<Int>,
    store: inout Int8StoreState
) {
    let e = b.entry
    var j0 = 0
    while j0 < b.n {
        let cols = min(e.nr, b.n - j0)
        let panel = UnsafeRawPointer(b.data) + (j0 / e.nr) * b.panelBytes
        var r0 = 0
        while r0 < rows.count {
            let tileRows = min(e.mr, rows.count - r0)
            store.withTile(row: rows.lowerBound + r0, column: j0) { s in
                e.tile(
                    groups: b.groups, a: UnsafeRawPointer(aBlock) + r0 * rowBytes, b: panel, rows: tileRows,
                    cols: cols, store: s)
            }
            r0 += e.mr
        }
        j0 += e.nr
    }
}

/// Packs `rows` rows of A in the family's format (rows padded to whole micro-panels).
private func packInt8A(
    _ format: Int8PackFormat, _ a: UnsafePointer<Int8>, lda: Int, rows: Int, k: Int, mr: Int,
    into out: UnsafeMutableRawPointer
) {
    switch format {
    case .bytes: cohort_i8_pack_a_bytes(a, lda, rows, k, mr, out.assumingMemoryBound(to: UInt8.self))
    case .words: cohort_i8_pack_a_words(a, lda, rows, k, mr, out.assumingMemoryBound(to: Int16.self))
    }
}

/// The C store descriptor, re-pointed at each tile's top-left element and first column.
private struct Int8StoreState {
    let base: cohort_i8_store
    let elementSize: Int
    let scale: UnsafePointer<Float>?
    let bias: UnsafePointer<Float>?
    var current: cohort_i8_store

    init(_ output: Int8GEMMOutput, correction: UnsafePointer<Int32>) {
        var s = cohort_i8_store()
        s.correction = correction
        s.ldc = output.ldc
        var rq: Int8Requantization?
        switch output {
        case .int32(let c, _): (s.kind, s.c, elementSize) = (0, UnsafeMutableRawPointer(c), 4)
        case .float32(let c, _, let r): (s.kind, s.c, elementSize, rq) = (1, UnsafeMutableRawPointer(c), 4, r)
        case .int8(let c, _, let r, let outputScale):
            (s.kind, s.c, elementSize, rq) = (2, UnsafeMutableRawPointer(c), 1, r)
            s.inverse_output_scale = 1 / outputScale
        }
        s.relu = rq?.relu == true ? 1 : 0
        scale = rq?.scale
        bias = rq?.bias
        base = s
        current = s
    }

    @inline(__always)
    mutating func withTile(row i: Int, column j: Int, _ body: (UnsafePointer<cohort_i8_store>) -> Void) {
        current.c = base.c! + (i * base.ldc + j) * elementSize
        current.correction = base.correction! + j
        current.scale = scale.map { $0 + j }
        current.bias = bias.map { $0 + j }
        withUnsafePointer(to: &current, body)
    }
}
