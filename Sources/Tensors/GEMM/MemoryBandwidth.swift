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
    let pass: () -> Void = {
        #if arch(x86_64)
            if kernel == .avx512 && GEMMKernel.avx512.isSupported { return triadAVX512(a, b, c, n, 0.5) }
            if kernel != .portable && GEMMKernel.avx2.isSupported { return triadAVX2(a, b, c, n, 0.5) }
        #endif
        for i in 0..<n { a[i] = b[i] + 0.5 * c[i] }
    }
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
