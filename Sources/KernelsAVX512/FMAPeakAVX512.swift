#if arch(x86_64)
    /// Independent zmm FMA chains in `fmaPeakLoopAVX512`: AVX-512 has 32 zmm registers, so 16 chains plus the two
    /// constants fit with room to spare (at most registers − 2 = 30), and 16 cover FMA latency × throughput of
    /// current cores. The same count as `../shared/anchors/fma_peak.c`.
    public let fmaPeakChainsAVX512 = 16

    /// FLOPs of one round of `fmaPeakLoopAVX512`: chains × 16 lanes × 2 (multiply and add).
    public let fmaPeakFlopsPerRoundAVX512 = Double(fmaPeakChainsAVX512 * 16 * 2)

    /// Runs `iterations` rounds of `fmaPeakChainsAVX512` independent zmm FMA chains and returns a value that depends
    /// on all of them (so the loop cannot be removed); the time measures the FMA issue rate.
    @inline(never)
    public func fmaPeakLoopAVX512(iterations: Int, seed: Float) -> Float {
        let m = SIMD16<Float>(repeating: 0.9999999)
        let d = SIMD16<Float>(repeating: seed * 1e-7)
        var x0 = SIMD16<Float>(repeating: 0.001)
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
        var x12 = x0 + 12
        var x13 = x0 + 13
        var x14 = x0 + 14
        var x15 = x0 + 15
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
            x12 = d.addingProduct(x12, m)
            x13 = d.addingProduct(x13, m)
            x14 = d.addingProduct(x14, m)
            x15 = d.addingProduct(x15, m)
        }
        let s = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) + ((x8 + x9) + (x10 + x11)) + ((x12 + x13) + (x14 + x15))
        return s.sum()
    }
#endif
