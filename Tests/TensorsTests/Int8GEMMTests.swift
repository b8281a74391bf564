import Tensors
import Testing

/// Sizes around every int8 register tile (4×16 portable and AVX2, 8×32 VNNI) and the k groups (4 and 2): 0, 1,
/// primes, and exact and partial tiles.
private let int8EdgeSizes = [0, 1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 32, 33, 37, 67]
private let int8Kernels = GEMMKernel.allCases.filter(\.supportsInt8)

@Suite(.timeLimit(.minutes(5)))
struct Int8GEMMTests {
    /// Every m, n, k from the edge sizes, cycling through the four outputs and leading-dimension padding, on each
    /// int8 kernel this CPU runs: bitwise equal to the integer reference, and nothing written outside C.
    @Test(arguments: int8Kernels)
    func edgeShapesEqualIntegerReference(kernel: GEMMKernel) {
        var index = 0
        for m in int8EdgeSizes {
            for n in int8EdgeSizes {
                for k in int8EdgeSizes {
                    let kinds = Int8Case.Kind.allCases
                    let t = Int8Case(m: m, n: n, k: k, pad: [0, 1, 5][index % 3], kind: kinds[index % kinds.count])
                    #expect(runInt8Case(t, kernel: kernel, seed: UInt64(index)), "\(kernel) \(t)")
                    index += 1
                }
            }
        }
    }

    /// Layer-sized products (W1's and W2's), several row blocks of packed A, and a deep k, with every output.
    @Test(arguments: int8Kernels)
    func largeShapesEqualIntegerReference(kernel: GEMMKernel) {
        let shapes = [(128, 256, 784, 0), (130, 70, 1029, 3), (1100, 33, 301, 1), (3, 1000, 2048, 0)]
        for (i, s) in shapes.enumerated() {
            for (j, kind) in Int8Case.Kind.allCases.enumerated() {
                let t = Int8Case(m: s.0, n: s.1, k: s.2, pad: s.3, kind: kind)
                #expect(runInt8Case(t, kernel: kernel, seed: UInt64(1000 + 4 * i + j)), "\(kernel) \(t)")
            }
        }
    }

    /// The extremes of the offset trick: A all −128 (u8 0) or 127 (u8 255) against B all −128 or 127, deep
    /// enough that the sums need the full int32 range the kernels promise.
    @Test(arguments: int8Kernels)
    func extremeValuesEqualIntegerReference(kernel: GEMMKernel) {
        let (m, n, k) = (9, 33, 4099)
        for (av, bv) in [(Int8(-128), Int8(-128)), (-128, 127), (127, -128), (127, 127)] {
            let a = Buffer([Int8](repeating: av, count: m * k))
            let b = Buffer([Int8](repeating: bv, count: k * n))
            let got = Buffer([Int32](repeating: 0, count: m * n))
            let want = Buffer([Int32](repeating: 0, count: m * n))
            int8Gemm(
                m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, output: .int32(got.pointer, ldc: n),
                kernel: kernel)
            referenceInt8Gemm(
                m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, output: .int32(want.pointer, ldc: n))
            #expect(got.array == want.array, "\(kernel) a=\(av) b=\(bv)")
            #expect(want.pointer[0] == Int32(av) * Int32(bv) * Int32(k))
        }
    }

    /// Weights packed once serve any number of calls and batch sizes.
    @Test(arguments: int8Kernels)
    func prepackedWeightsServeEveryBatch(kernel: GEMMKernel) {
        var rng = TestRandom(seed: 77)
        let (n, k) = (45, 100)
        let b = Buffer(randomInt8(k * n, rng: &rng))
        let packed = Int8PackedMatrix(b: b.pointer, ldb: n, k: k, n: n, kernel: kernel)
        for m in [1, 8, 33] {
            let a = Buffer(randomInt8(m * k, rng: &rng))
            let got = Buffer([Int32](repeating: 0, count: m * n))
            let want = Buffer([Int32](repeating: 0, count: m * n))
            int8Gemm(m: m, a: a.pointer, lda: k, b: packed, output: .int32(got.pointer, ldc: n))
            referenceInt8Gemm(
                m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, output: .int32(want.pointer, ldc: n))
            #expect(got.array == want.array, "\(kernel) m=\(m)")
        }
    }

    /// The selection: VNNI where the CPU lists it, and the int8 choice follows `COHORT_GEMM_KERNEL`'s family.
    @Test func selectionFollowsCPUFeatures() {
        #expect(GEMMKernel.portable.supportsInt8)
        #expect(GEMMKernel.selectedInt8.supportsInt8)
        if GEMMKernel.selected.supportsInt8 { #expect(GEMMKernel.selectedInt8 == GEMMKernel.selected) }
    }
}

@Suite struct Int8QuantizeTests {
    /// Every ISA's activation quantizer equals the Swift definition: halves (round to even), the clamp, NaN, ±∞,
    /// and lengths around the vector widths.
    @Test(arguments: int8Kernels)
    func everyPathEqualsReference(kernel: GEMMKernel) {
        var rng = TestRandom(seed: 5)
        let special: [Float] = [0.5, 1.5, 2.5, -0.5, -2.5, 126.5, -126.5, 127.49, 200, -200, .nan, .infinity, -.infinity, -0.0]
        for n in [0, 1, 7, 8, 15, 16, 17, 33, 100] {
            let x = (0..<n).map { i in i < special.count && n > 20 ? special[i] : rng.float() * 150 }
            let out = Buffer([Int8](repeating: 55, count: n + 1))
            x.withUnsafeBufferPointer {
                quantizeInt8($0.baseAddress!, count: n, inverseScale: 1, into: out.pointer, kernel: kernel)
            }
            let want = x.map { referenceQuantizeInt8($0, inverseScale: 1) }
            #expect(Array(out.array.prefix(n)) == want, "\(kernel) n=\(n)")
            #expect(out.pointer[n] == 55, "\(kernel) n=\(n): wrote past the end")
        }
        #expect(referenceQuantizeInt8(.nan, inverseScale: 1) == -127)
        #expect(referenceQuantizeInt8(2.5, inverseScale: 1) == 2)
    }
}
