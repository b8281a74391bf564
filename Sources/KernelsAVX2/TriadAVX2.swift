#if arch(x86_64)
    /// STREAM's triad a[i] = b[i] + s·c[i] over `n` floats (a multiple of 32), SIMD8 registers, four per
    /// iteration so loads and stores, not the loop, are the limit: 12 bytes moved per element (two loads, one
    /// store), the memory roof of the roofline at whatever level the arrays fit.
    @inline(never)
    public func triadAVX2(
        _ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ n: Int, _ s: Float
    ) {
        let sv = SIMD8<Float>(repeating: s)
        let w = 8
        var i = 0
        while i + 4 * w <= n {
            for u in 0..<4 {
                let j = i + u * w
                let bv = UnsafeRawPointer(b + j).loadUnaligned(as: SIMD8<Float>.self)
                let cv = UnsafeRawPointer(c + j).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(a + j).storeBytes(of: bv.addingProduct(cv, sv), as: SIMD8<Float>.self)
            }
            i += 4 * w
        }
    }
#endif
