import Foundation

#if arch(x86_64)
    import KernelsAVX512
    import KernelsAVX2
#endif

/// STREAM-like triad bandwidth in GB/s (12 bytes per element: two loads and a store) with three arrays of
/// `bytesPerArray` each, so the figure is that of the cache level (or DRAM) they fit in; the best of 7 samples of
/// about `seconds` / 7, as `measureFMAPeak` takes its peak. Uses the kernel's widest vectors (the portable kernel:
/// plain Swift).
public func measureTriadBandwidth(bytesPerArray: Int, kernel: GEMMKernel = .selected, seconds: Double = 0.2) -> Double {
    let n = max(64, bytesPerArray / 4 / 64 * 64)
    // One block, the arrays 1 KiB + 64 B apart beyond their length: separate allocations of the same size start at
    // the same offset within a 4 KiB page, and then every store to a aliases the loads of b and c (4K aliasing),
    // which halved the L1 figure.
    let gap = 272
    let block = UnsafeMutablePointer<Float>.allocate(capacity: 3 * (n + gap) + 16)
    defer { block.deallocate() }
    block.initialize(repeating: 1, count: 3 * (n + gap) + 16)
    let a = block
    let b = block + n + gap
    let c = b + n + gap
    // The kernel is chosen once: asking `isSupported` looks the CPU's flags up by name (hashing strings), which
    // inside the loop cost more than an L1 pass itself and held the L1 figure to a quarter of the triad's rate.
    let triad = triadKernel(kernel)
    let pass = { triad(a, b, c, n, 0.5) }
    var passes = 1
    while true {
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<passes { pass() }
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        if dt > 0.005 {
            passes = max(1, Int(Double(passes) * seconds / 7 / dt))
            break
        }
        passes *= 4
    }
    var best = 0.0
    for _ in 0..<7 {
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<passes { pass() }
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        best = max(best, Double(passes) * Double(n) * 12 / dt / 1e9)
    }
    return best
}

/// The triad kernel for `kernel`'s instruction set (the widest this CPU runs, at most the one asked for).
private func triadKernel(_ kernel: GEMMKernel)
    -> (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, Int, Float) -> Void
{
    #if arch(x86_64)
        if kernel == .avx512 && GEMMKernel.avx512.isSupported { return triadAVX512 }
        if kernel != .portable && GEMMKernel.avx2.isSupported { return triadAVX2 }
    #endif
    return { a, b, c, n, s in for i in 0..<n { a[i] = b[i] + s * c[i] } }
}
