#if arch(x86_64)
import GEMMKernelAVX512
import GEMMKernelAVX2
#endif

/// A micro-kernel: C[0..<mr, 0..<nr] = α·(Ã·B̃) + β·C over `kc` steps of packed panels (see MicroKernelPortable).
typealias MicroKernel = @Sendable (
    _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
) -> Void

/// One kernel's register tile and cache blocking.
///
/// - `mr × nr`: the register tile (fixed by the kernel source, see scripts/gen-gemm-kernels.py).
/// - `kc`: depth of one packed block; an A micro-panel (mr × kc) stays in L1 while the kernel sweeps B.
/// - `nc`: columns of one packed B block (kc × nc), sized to stay in L2 while every A micro-panel passes over it.
/// - `mc`: rows of one packed A block (mc × kc), sized for L3 (or all of A when it is small).
struct GEMMBlocking: Sendable {
    let mr: Int, nr: Int, kc: Int, mc: Int, nc: Int
    let kernel: MicroKernel
}

extension GEMMKernel {
    /// THE block-size table. Tuned on AMD Zen 4 (32 KiB L1d, 1 MiB L2 per core) with `cohort bench gemm`.
    var blocking: GEMMBlocking {
        switch self {
        #if arch(x86_64)
        case .avx512:
            return GEMMBlocking(mr: 12, nr: 32, kc: 256, mc: 960, nc: 512, kernel: sgemmMicroKernelAVX512)
        case .avx2:
            return GEMMBlocking(mr: 6, nr: 16, kc: 256, mc: 960, nc: 512, kernel: sgemmMicroKernelAVX2)
        #else
        case .avx512, .avx2:
            preconditionFailure("GEMM kernel \(self) exists only on x86-64")
        #endif
        case .portable:
            return GEMMBlocking(mr: 4, nr: 8, kc: 256, mc: 512, nc: 512, kernel: sgemmMicroKernelPortable)
        }
    }
}
