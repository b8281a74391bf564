#if arch(x86_64)
    /// STREAM's triad a[i] = b[i] + s·c[i] over `n` floats (a multiple of 16), SIMD16 registers: 12 bytes moved per
    /// element (two loads, one store), the memory roof of the roofline at whatever level the arrays fit.
    @inline(never)
    public func triadAVX512(
        _ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ n: Int, _ s: Float
    ) {
        let sv = SIMD16<Float>(repeating: s)
        var i = 0
        while i + 16 <= n {
            let bv = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
            let cv = UnsafeRawPointer(c + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(a + i).storeBytes(of: bv.addingProduct(cv, sv), as: SIMD16<Float>.self)
            i += 16
        }
    }
#endif
