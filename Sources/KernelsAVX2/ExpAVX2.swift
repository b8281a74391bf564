#if arch(x86_64)
    import VectorMath

    /// `expShiftedSum` compiled for AVX2 + FMA (this target's `-target-cpu`).
    @inline(never)
    public func expShiftedSumAVX2(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        expShiftedSum(x, y, n, shift: shift)
    }
#endif
