import CInt8Kernels

/// The B operand of the int8 GEMM (k × n signed int8, e.g. a quantized Dense kernel [in, out]) packed once for
/// one kernel family, with the per-column correction of the offset trick. Weights are packed at quantization
/// time, so inference pays only for packing its activations.
public final class Int8PackedMatrix: @unchecked Sendable {
    public let k: Int
    public let n: Int
    public let kernel: GEMMKernel
    let entry: Int8GEMMEntry
    /// Packed k groups per column panel.
    let groups: Int
    let data: UnsafeMutableRawPointer
    /// Per column (padded to whole panels): 128·Σ_p b[p][j] for the bytes format, zero for words.
    let correction: UnsafeMutablePointer<Int32>
    let paddedColumns: Int

    /// Packs B (k × n, row stride `ldb` ≥ n) for `kernel`, which must support int8 on this CPU.
    public init(b: UnsafePointer<Int8>, ldb: Int, k: Int, n: Int, kernel: GEMMKernel = .selectedInt8) {
        precondition(k >= 0 && n >= 0 && k <= Int8PackedMatrix.maxDepth, "int8 GEMM: k=\(k) n=\(n) out of range")
        precondition(ldb >= max(1, n), "int8 GEMM: ldb=\(ldb) < n=\(n)")
        precondition(kernel.supportsInt8, "int8 GEMM: kernel \(kernel) has no int8 support on this CPU")
        guard let entry = KernelRegistry.int8[KernelKey(family: kernel, element: .int8)] else {
            preconditionFailure("int8 GEMM: this build has no int8 kernel for \(kernel)")
        }
        self.k = k
        self.n = n
        self.kernel = kernel
        self.entry = entry
        groups = (k + entry.format.depth - 1) / entry.format.depth
        paddedColumns = roundUp(max(n, 1), entry.nr)
        let bytes = max(64, paddedColumns * groups * entry.format.depth * entry.format.elementSize)
        data = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        correction = .allocate(capacity: paddedColumns)
        correction.initialize(repeating: 0, count: paddedColumns)
        switch entry.format {
        case .bytes:
            cohort_i8_pack_b_bytes(b, ldb, k, n, entry.nr, data.bindMemory(to: Int8.self, capacity: bytes), correction)
        case .words:
            cohort_i8_pack_b_words(b, ldb, k, n, entry.nr, data.bindMemory(to: Int16.self, capacity: bytes / 2))
        }
    }

    deinit {
        data.deallocate()
        correction.deallocate()
    }

    /// The deepest product: |Σ (a + 128)·b| ≤ k·255·128 must fit an int32.
    public static let maxDepth = 65_536

    /// Bytes of one packed column panel.
    var panelBytes: Int { groups * entry.nr * entry.format.depth * entry.format.elementSize }
}
