#if arch(x86_64)
    import KernelsAVX512
    import KernelsAVX2
#endif

/// A register tile's shape: rows × columns of C.
struct TileShape: Sendable, Equatable {
    let rows: Int, cols: Int
}

/// Which operands a family's kernels can pack on the fly, as a side effect of the first row (or column) panel's
/// FMAs, instead of in a packing pass of their own (see `APackingPlan` and `BlockPlan`).
struct OnTheFlyPacking: OptionSet, Sendable {
    let rawValue: Int
    /// B as stored (not transposed), by the first row panel.
    static let b = OnTheFlyPacking(rawValue: 1)
    /// Aᵀ as stored, by the first column panel.
    static let aTransposed = OnTheFlyPacking(rawValue: 2)
    /// A as stored (not transposed), by the first column panel.
    static let aRows = OnTheFlyPacking(rawValue: 4)
}

/// One instruction-set family's fp32 micro-kernels: the contents of its fp32 table entry.
///
/// Static requirements rather than stored function values: the block walk and the macro-kernel are generic
/// over the conformer and specialised for each one, so every tile is a direct call to a kernel (no closure or
/// witness call in the jr/ir loops). Run-time dispatch happens once per thread's strip, through `runBlocked`.
/// Every kernel computes C[0..<rows, 0..<cols] = α·(Ã·B̃) + β·C over `kc` steps of packed panels (the layout in
/// GEMMPacking.swift; β = 0 stores without reading C).
protocol Float32MicroKernels: SendableMetatype {
    /// The register tile of `full`, and of the panels every kernel reads.
    static var mr: Int { get }
    static var nr: Int { get }
    /// The shapes of the partial-tile kernels `edge(i, …)`, cheaper than a whole tile at the edges of C.
    static var edgeTiles: [TileShape] { get }
    /// Which operands `packingB`, `packingA` and `packingARows` exist for.
    static var onTheFly: OnTheFlyPacking { get }

    static func full(
        kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float)
    /// The first `edgeTiles[index]` rows × columns of a tile.
    static func edge(
        _ index: Int, kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float)
    /// `full`, reading the B panel from its source rows (`ldb` apart, B as stored) and writing the packed
    /// panel to `packedB` as it goes.
    static func packingB(
        kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, packedB: UnsafeMutablePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float)
    /// `full` for Aᵀ as stored: step p's mr floats are read at `a + p·lda` and written to `packedA`.
    static func packingA(
        kc: Int, a: UnsafePointer<Float>, lda: Int, packedA: UnsafeMutablePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float)
    /// `full` for A as stored: tile row r's step p is read at `a[r·lda + p]` and written to `packedA`.
    static func packingARows(
        kc: Int, a: UnsafePointer<Float>, lda: Int, packedA: UnsafeMutablePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float)

    /// The packing pass for B as stored: `depth` rows `ld` apart, `count` columns, into panels of `nr` (see
    /// `packCopying`, the default). The AVX families have their own, built for their instruction set.
    static func packCopyingB(
        _ src: UnsafePointer<Float>, ld: Int, count: Int, depth: Int, into dst: UnsafeMutablePointer<Float>)

    /// The block walk specialised for these kernels, on one thread's strip of C. A requirement (with the default
    /// below), so calling it on the table's `any Float32MicroKernels.Type` lands in the specialised copy.
    static func runBlocked(_ blk: GEMMBlocking, _ op: GEMMOperands)
}

extension Float32MicroKernels {
    static var edgeTiles: [TileShape] { [] }
    static var onTheFly: OnTheFlyPacking { [] }

    static func runBlocked(_ blk: GEMMBlocking, _ op: GEMMOperands) {
        blockedSgemm(Self.self, blk, op)
    }

    static func packCopyingB(
        _ src: UnsafePointer<Float>, ld: Int, count: Int, depth: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        packCopying(src, ld: ld, count: count, depth: depth, width: nr, into: dst)
    }

    static func edge(
        _ index: Int, kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        preconditionFailure("\(Self.self) has no edge kernels")
    }

    static func packingB(
        kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, packedB: UnsafeMutablePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        preconditionFailure("\(Self.self) has no B-packing kernel")
    }

    static func packingA(
        kc: Int, a: UnsafePointer<Float>, lda: Int, packedA: UnsafeMutablePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        preconditionFailure("\(Self.self) has no Aᵀ-packing kernel")
    }

    static func packingARows(
        kc: Int, a: UnsafePointer<Float>, lda: Int, packedA: UnsafeMutablePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        preconditionFailure("\(Self.self) has no A-packing kernel")
    }

    /// Kernel `index` of an `EdgeChoice`: the full tile when negative, else `edge(index, …)`.
    @inline(__always)
    static func tile(
        _ index: Int, kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        if index < 0 {
            full(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
        } else {
            edge(index, kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }
    }
}

/// The 4 × 8 baseline kernel (generated into MicroKernelPortable.swift), with no edge or packing kernels.
enum PortableFloat32Kernels: Float32MicroKernels {
    static var mr: Int { 4 }
    static var nr: Int { 8 }

    @inline(__always)
    static func full(
        kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        sgemmMicroKernelPortable(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
    }
}

#if arch(x86_64)
    /// The 6 × 16 AVX2 + FMA kernel (KernelsAVX2), its three edge kernels and its three packing kernels.
    /// The edge rows 4 and 2 are what m leaves at the training shapes (128 = 21·6 + 2, 784 = 130·6 + 4); a
    /// 2-row tile then costs its 4 FMAs per step instead of a whole tile's 12.
    enum AVX2Float32Kernels: Float32MicroKernels {
        static var mr: Int { 6 }
        static var nr: Int { 16 }
        static let edgeTiles = [TileShape(rows: 4, cols: 16), TileShape(rows: 2, cols: 16), TileShape(rows: 6, cols: 8)]
        static var onTheFly: OnTheFlyPacking { [.b, .aTransposed, .aRows] }

        @inline(__always)
        static func full(
            kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            sgemmMicroKernelAVX2(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }

        @inline(__always)
        static func edge(
            _ index: Int, kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            switch index {
            case 0: sgemmMicroKernelAVX2_4x16(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
            case 1: sgemmMicroKernelAVX2_2x16(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
            default: sgemmMicroKernelAVX2_6x8(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
            }
        }

        @inline(__always)
        static func packingB(
            kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, packedB: UnsafeMutablePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            sgemmMicroKernelAVX2PackingB(
                kc: kc, a: a, b: b, ldb: ldb, packedB: packedB, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }

        @inline(__always)
        static func packingA(
            kc: Int, a: UnsafePointer<Float>, lda: Int, packedA: UnsafeMutablePointer<Float>, b: UnsafePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            sgemmMicroKernelAVX2PackingA(
                kc: kc, a: a, lda: lda, packedA: packedA, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }

        @inline(__always)
        static func packingARows(
            kc: Int, a: UnsafePointer<Float>, lda: Int, packedA: UnsafeMutablePointer<Float>, b: UnsafePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            sgemmMicroKernelAVX2PackingARows(
                kc: kc, a: a, lda: lda, packedA: packedA, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }

        @inline(__always)
        static func packCopyingB(
            _ src: UnsafePointer<Float>, ld: Int, count: Int, depth: Int, into dst: UnsafeMutablePointer<Float>
        ) {
            sgemmPackCopyingBAVX2(src, ld: ld, count: count, depth: depth, into: dst)
        }
    }

    /// The 12 × 32 AVX-512 kernel (KernelsAVX512), its three edge kernels and its three packing kernels.
    enum AVX512Float32Kernels: Float32MicroKernels {
        static var mr: Int { 12 }
        static var nr: Int { 32 }
        static let edgeTiles = [TileShape(rows: 8, cols: 32), TileShape(rows: 4, cols: 32), TileShape(rows: 12, cols: 16)]
        static var onTheFly: OnTheFlyPacking { [.b, .aTransposed, .aRows] }

        @inline(__always)
        static func full(
            kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            sgemmMicroKernelAVX512(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }

        @inline(__always)
        static func edge(
            _ index: Int, kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            switch index {
            case 0: sgemmMicroKernelAVX512_8x32(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
            case 1: sgemmMicroKernelAVX512_4x32(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
            default: sgemmMicroKernelAVX512_12x16(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
            }
        }

        @inline(__always)
        static func packingB(
            kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, packedB: UnsafeMutablePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            sgemmMicroKernelAVX512PackingB(
                kc: kc, a: a, b: b, ldb: ldb, packedB: packedB, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }

        @inline(__always)
        static func packingA(
            kc: Int, a: UnsafePointer<Float>, lda: Int, packedA: UnsafeMutablePointer<Float>, b: UnsafePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            sgemmMicroKernelAVX512PackingA(
                kc: kc, a: a, lda: lda, packedA: packedA, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }

        @inline(__always)
        static func packingARows(
            kc: Int, a: UnsafePointer<Float>, lda: Int, packedA: UnsafeMutablePointer<Float>, b: UnsafePointer<Float>,
            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
        ) {
            sgemmMicroKernelAVX512PackingARows(
                kc: kc, a: a, lda: lda, packedA: packedA, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }

        @inline(__always)
        static func packCopyingB(
            _ src: UnsafePointer<Float>, ld: Int, count: Int, depth: Int, into dst: UnsafeMutablePointer<Float>
        ) {
            sgemmPackCopyingBAVX512(src, ld: ld, count: count, depth: depth, into: dst)
        }
    }
#endif
