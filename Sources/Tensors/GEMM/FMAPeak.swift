import Foundation

#if arch(x86_64)
    import KernelsAVX512
    import KernelsAVX2
#endif

/// This CPU's fp32 FMA peak in GFLOP/s, measured, not looked up: `threads` threads each run many independent
/// chains of the widest FMA the kernel's instruction set has (the ceiling for that kernel), for about
/// `seconds`; the best of 7 samples is returned (a peak: on a shared machine, slower samples measure the
/// neighbours, not the core). `cpuTime` times with the calling thread's CPU clock
/// (meaningful with 1 thread only), for shared machines. The portable kernel has no FMA loop and reports the AVX2 (or,
/// off x86, 0) figure.
public func measureFMAPeak(kernel: GEMMKernel = .selected, threads: Int = 1, seconds: Double = 0.25, cpuTime: Bool = false)
    -> Double
{
    let now: () -> UInt64 =
        cpuTime
        ? {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        } : { DispatchTime.now().uptimeNanoseconds }
    #if arch(x86_64)
        let useAVX512 = kernel == .avx512 && GEMMKernel.avx512.isSupported
        guard useAVX512 || GEMMKernel.avx2.isSupported else { return 0 }
        let flopsPerRound = useAVX512 ? fmaPeakFlopsPerRoundAVX512 : fmaPeakFlopsPerRoundAVX2
        let round: @Sendable (Int) -> Float = { iterations in
            useAVX512 ? fmaPeakLoopAVX512(iterations: iterations, seed: 1) : fmaPeakLoopAVX2(iterations: iterations, seed: 1)
        }
        // Size one sample to `seconds / 5` from a short calibration run.
        var iterations = 100_000
        while true {
            let t0 = now()
            _ = round(iterations)
            let dt = Double(now() - t0) * 1e-9
            if dt > 0.01 {
                iterations = max(1, Int(Double(iterations) * seconds / 7 / dt))
                break
            }
            iterations *= 4
        }
        let n = iterations
        let count = max(1, threads)
        var samples: [Double] = []
        for _ in 0..<7 {
            let t0 = now()
            runParallel(count) { _ in _ = round(n) }
            let dt = Double(now() - t0) * 1e-9
            samples.append(Double(count) * Double(n) * flopsPerRound / dt / 1e9)
        }
        return samples.max() ?? 0
    #else
        return 0
    #endif
}
