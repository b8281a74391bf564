import KernelsAVX2
import KernelsAVX512
import VectorMath

/// y[i] = e^(x[i] − shift) for i < n, returning Σ y: softmax's inner loop, on the widest vectors this CPU has (the
/// same run-time choice as the GEMM kernel, `GEMMKernel.selected`). Within 2 ulp of `expf`; 0 below −87.3.
public func expShifted(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Float {
    #if arch(x86_64)
        switch GEMMKernel.selected {
        case .avx512: return expShiftedSumAVX512(x, y, n, shift: shift)
        case .avx2: return expShiftedSumAVX2(x, y, n, shift: shift)
        case .portable: return expShiftedSum(x, y, n, shift: shift)
        }
    #else
        return expShiftedSum(x, y, n, shift: shift)
    #endif
}
