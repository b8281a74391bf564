import CInt8Kernels

/// The int8 GEMM's packed formats (see Sources/CInt8Kernels/include/cohort_int8.h).
enum Int8PackFormat: Sendable {
    /// u8 A (s8 + 128) × s8 B, k in groups of 4: VNNI.
    case bytes
    /// s16 A × s16 B, k in pairs: AVX2's `vpmaddwd`, and the portable kernel.
    case words

    /// k positions per packed group.
    var depth: Int { self == .bytes ? 4 : 2 }
    /// Bytes per packed element.
    var elementSize: Int { self == .bytes ? 1 : 2 }
}

/// One family's int8 kernel: its register tile, packed format and row blocking (`KernelRegistry.int8`).
struct Int8GEMMEntry: Sendable {
    let family: GEMMKernel
    let mr: Int, nr: Int
    let format: Int8PackFormat
    /// Bytes of packed A kept per row block (L2-sized: the block is read once per B panel).
    let aBlockBytes: Int

    /// One tile over `groups` packed k groups, stored (rows × cols of it) through `store`.
    @inline(__always)
    func tile(
        groups: Int, a: UnsafeRawPointer, b: UnsafeRawPointer, rows: Int, cols: Int,
        store: UnsafePointer<cohort_i8_store>
    ) {
        switch family {
        case .avx512:
            cohort_i8_tile_vnni(
                groups, a.assumingMemoryBound(to: UInt8.self), b.assumingMemoryBound(to: Int8.self), rows, cols, store)
        case .avx2:
            cohort_i8_tile_avx2(
                groups, a.assumingMemoryBound(to: Int16.self), b.assumingMemoryBound(to: Int16.self), rows, cols, store)
        case .portable:
            cohort_i8_tile_portable(
                groups, a.assumingMemoryBound(to: Int16.self), b.assumingMemoryBound(to: Int16.self), rows, cols, store)
        }
    }
}

extension KernelRegistry {
    /// int8 GEMM: AVX-512 means AVX-512 VNNI here (`vpdpbusd`); the AVX2 and portable entries need nothing more
    /// than their fp32 families. Row blocks of 256 KiB of packed A (half a typical L2).
    static let int8: KernelTable<Int8GEMMEntry> = {
        let block = 256 * 1024
        return KernelTable(
            element: .int8,
            [
                .avx512: Int8GEMMEntry(
                    family: .avx512, mr: Int(COHORT_I8_VNNI_MR), nr: Int(COHORT_I8_VNNI_NR), format: .bytes, aBlockBytes: block),
                .avx2: Int8GEMMEntry(
                    family: .avx2, mr: Int(COHORT_I8_AVX2_MR), nr: Int(COHORT_I8_AVX2_NR), format: .words, aBlockBytes: block),
                .portable: Int8GEMMEntry(
                    family: .portable, mr: Int(COHORT_I8_PORTABLE_MR), nr: Int(COHORT_I8_PORTABLE_NR), format: .words,
                    aBlockBytes: block),
            ])
    }()
}

extension GEMMKernel {
    /// Whether this CPU runs the family's int8 kernel: the AVX-512 one needs VNNI as well.
    public var supportsInt8: Bool {
        switch self {
        case .avx512: return isSupported && CPUFeatures.current.flags.contains("avx512_vnni")
        case .avx2, .portable: return isSupported
        }
    }

    /// The int8 kernel `int8Gemm` uses when none is named: the fp32 choice (`selected`, so `COHORT_GEMM_KERNEL`
    /// forces both), or the next family down when that one has no int8 kernel on this CPU (AVX-512 without VNNI).
    public static var selectedInt8: GEMMKernel {
        let chosen = selected
        if chosen.supportsInt8 { return chosen }
        return chosen == .avx512 && GEMMKernel.avx2.supportsInt8 ? .avx2 : .portable
    }
}
