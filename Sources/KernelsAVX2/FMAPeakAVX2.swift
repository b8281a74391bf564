#if arch(x86_64)
    /// Independent ymm FMA chains in `fmaPeakLoopAVX2`. AVX2 has 16 ymm registers and the loop keeps two
    /// constants in registers, so at most 14 chains fit; 16 spilled to the stack and measured load/store ports
    /// (54.6 instead of ~90 GFLOP/s on Zen 3). 12 chains still cover FMA latency × throughput (4 × 2 = 8) on
    /// current cores, and match `../shared/anchors/fma_peak.c`.
    public let fmaPeakChainsAVX2 = 12

    /// FLOPs of one round of `fmaPeakLoopAVX2`: chains × 8 lanes × 2 (multiply and add).
    public let fmaPeakFlopsPerRoundAVX2 = Double(fmaPeakChainsAVX2 * 8 * 2)

    /// Runs `iterations` rounds of `fmaPeakChainsAVX2` independent ymm FMA chains and returns a value that depends
    /// on all of them (so the loop cannot be removed); the time measures the FMA issue rate.
    @inline(never)
    public func fmaPeakLoopAVX2(iterations: Int, seed: Float) -> Float {
        let m = SIMD8<Float>(repeating: 0.9999999)
        let d = SIMD8<Float>(repeating: seed * 1e-7)
        var x0 = SIMD8<Float>(repeating: 0.001)
        var x1 = x0 + 1
        var x2 = x0 + 2
        var x3 = x0 + 3
        var x4 = x0 + 4
        var x5 = x0 + 5
        var x6 = x0 + 6
        var x7 = x0 + 7
        var x8 = x0 + 8
        var x9 = x0 + 9
        var x10 = x0 + 10
        var x11 = x0 + 11
        for _ in 0..<iterations {
            x0 = d.addingProduct(x0, m)
            x1 = d.addingProduct(x1, m)
            x2 = d.addingProduct(x2, m)
            x3 = d.addingProduct(x3, m)
            x4 = d.addingProduct(x4, m)
            x5 = d.addingProduct(x5, m)
            x6 = d.addingProduct(x6, m)
            x7 = d.addingProduct(x7, m)
            x8 = d.addingProduct(x8, m)
            x9 = d.addingProduct(x9, m)
            x10 = d.addingProduct(x10, m)
            x11 = d.addingProduct(x11, m)
        }
        let s = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) + ((x8 + x9) + (x10 + x11))
        return s.sum()
    }
#endif
