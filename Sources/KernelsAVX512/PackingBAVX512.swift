#if arch(x86_64)
    /// Packs `depth` rows of B as stored (row p at `src + p·ld`, `count` floats along C's columns) into panels of
    /// 32 columns: element (p, q·32 + j) goes to `dst[q·32·depth + p·32 + j]`, a partial last panel zero-padded.
    /// The generic `packCopying` of Tensors is built for baseline x86-64 (16-byte moves, a run-time width); here each
    /// panel step is two whole SIMD16 loads and stores, and four source rows are read side by side, so a panel gets
    /// 4 × 32 floats written in one contiguous run while four row streams are in flight. See sgemmPackCopyingBAVX2.
    @inline(never)
    public func sgemmPackCopyingBAVX512(
        _ src: UnsafePointer<Float>, ld: Int, count: Int, depth: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        let width = 32
        let panelBytes = width * depth * 4
        let full = count / width
        var p = 0
        while p + 4 <= depth {
            let r0 = UnsafeRawPointer(src + p * ld)
            let r1 = r0 + ld * 4
            let r2 = r1 + ld * 4
            let r3 = r2 + ld * 4
            var out = UnsafeMutableRawPointer(dst + p * width)
            var q = 0
            while q < full {
                let o = q * width * 4
                let a0 = r0.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
                let a1 = r0.loadUnaligned(fromByteOffset: o + 16 * 4, as: SIMD16<Float>.self)
                let b0 = r1.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
                let b1 = r1.loadUnaligned(fromByteOffset: o + 16 * 4, as: SIMD16<Float>.self)
                let c0 = r2.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
                let c1 = r2.loadUnaligned(fromByteOffset: o + 16 * 4, as: SIMD16<Float>.self)
                let d0 = r3.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
                let d1 = r3.loadUnaligned(fromByteOffset: o + 16 * 4, as: SIMD16<Float>.self)
                out.storeBytes(of: a0, toByteOffset: 0, as: SIMD16<Float>.self)
                out.storeBytes(of: a1, toByteOffset: 16 * 4, as: SIMD16<Float>.self)
                out.storeBytes(of: b0, toByteOffset: 32 * 4, as: SIMD16<Float>.self)
                out.storeBytes(of: b1, toByteOffset: 32 * 4 + 16 * 4, as: SIMD16<Float>.self)
                out.storeBytes(of: c0, toByteOffset: 2 * 32 * 4, as: SIMD16<Float>.self)
                out.storeBytes(of: c1, toByteOffset: 2 * 32 * 4 + 16 * 4, as: SIMD16<Float>.self)
                out.storeBytes(of: d0, toByteOffset: 3 * 32 * 4, as: SIMD16<Float>.self)
                out.storeBytes(of: d1, toByteOffset: 3 * 32 * 4 + 16 * 4, as: SIMD16<Float>.self)
                out += panelBytes
                q += 1
            }
            p += 4
        }
        while p < depth {
            let row = UnsafeRawPointer(src + p * ld)
            var out = UnsafeMutableRawPointer(dst + p * width)
            var q = 0
            while q < full {
                let o = q * width * 4
                out.storeBytes(of: row.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self), as: SIMD16<Float>.self)
                out.storeBytes(
                    of: row.loadUnaligned(fromByteOffset: o + 16 * 4, as: SIMD16<Float>.self), toByteOffset: 16 * 4,
                    as: SIMD16<Float>.self)
                out += panelBytes
                q += 1
            }
            p += 1
        }
        let tail = count - full * width
        guard tail > 0 else { return }
        let panel = dst + full * width * depth
        for p in 0..<depth {
            let row = src + p * ld + full * width
            let out = panel + p * width
            for j in 0..<tail { out[j] = row[j] }
            for j in tail..<width { out[j] = 0 }
        }
    }
#endif
