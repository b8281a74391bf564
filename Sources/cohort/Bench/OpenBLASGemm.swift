import Foundation

/// OpenBLAS's sgemm, loaded at run time from its shared library, so that `cohort bench gemm --beside-openblas` can
/// time it and Cohort's sgemm pair by pair on the same buffers, milliseconds apart. Run one after the other, the two
/// programs met a clock that moves by ±15% between runs on a VM, and per-round ratios spread from 0.8 to 1.25.
/// `OPENBLAS_CORETYPE` in the command's environment forces OpenBLAS's kernel as it does for numpy.
struct OpenBLASGemm {
    /// `cblas_sgemm` with 64-bit integers (numpy's bundled scipy-openblas), or with 32-bit ones (a system libopenblas).
    private typealias ILP64 =
        @convention(c) (
            Int32, Int32, Int32, Int64, Int64, Int64, Float, UnsafePointer<Float>?, Int64, UnsafePointer<Float>?, Int64, Float,
            UnsafeMutablePointer<Float>?, Int64
        ) -> Void
    private typealias LP64 =
        @convention(c) (
            Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
            UnsafeMutablePointer<Float>?, Int32
        ) -> Void
    private enum Entry {
        case ilp64(ILP64)
        case lp64(LP64)
    }

    let path: String
    private let entry: Entry

    /// CBLAS's enumerations.
    private static let rowMajor: Int32 = 101, noTrans: Int32 = 111, trans: Int32 = 112

    /// Loads `path` (or, for "numpy", the scipy-openblas library numpy bundles) with `threads` OpenBLAS threads.
    static func load(_ path: String, threads: Int) throws -> OpenBLASGemm {
        let file = path == "numpy" ? try numpyLibrary() : path
        setenv("OPENBLAS_NUM_THREADS", "\(threads)", 1)
        guard let handle = dlopen(file, RTLD_NOW | RTLD_LOCAL) else {
            throw CohortFailure("--beside-openblas \(file): cannot load it (\(dlerror().map { String(cString: $0) } ?? "?"))")
        }
        for name in ["scipy_cblas_sgemm64_", "cblas_sgemm64_"] {
            if let symbol = dlsym(handle, name) {
                return OpenBLASGemm(path: file, entry: .ilp64(unsafeBitCast(symbol, to: ILP64.self)))
            }
        }
        guard let symbol = dlsym(handle, "cblas_sgemm") else {
            throw CohortFailure("--beside-openblas \(file): no cblas_sgemm in it")
        }
        return OpenBLASGemm(path: file, entry: .lp64(unsafeBitCast(symbol, to: LP64.self)))
    }

    /// numpy's bundled OpenBLAS, as ../shared/anchors/gemm_openblas.py uses it (`numpy.libs/libscipy_openblas*.so`).
    private static func numpyLibrary() throws -> String {
        let script =
            "import glob, os, numpy; print(sorted(glob.glob(os.path.join(os.path.dirname(numpy.__file__), '..', 'numpy.libs', 'libscipy_openblas*.so')))[0])"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw CohortFailure("--beside-openblas numpy: cannot run python3 (\(error))") }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let file = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0, !file.isEmpty else {
            throw CohortFailure(
                "--beside-openblas numpy: python3 found no numpy with a bundled OpenBLAS; give the library's path")
        }
        return file
    }

    /// C = op(A)·op(B), row-major, as Cohort's sgemm is called.
    func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
        ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let (ta, tb) = (transA ? Self.trans : Self.noTrans, transB ? Self.trans : Self.noTrans)
        switch entry {
        case .ilp64(let f):
            f(Self.rowMajor, ta, tb, Int64(m), Int64(n), Int64(k), 1, a, Int64(lda), b, Int64(ldb), 0, c, Int64(ldc))
        case .lp64(let f):
            f(Self.rowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
        }
    }
}
