import Tensors

/// A deterministic generator (xorshift), so every failure reproduces.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
    /// Uniform in [-1, 1).
    mutating func float() -> Float { Float(Int64(bitPattern: next() >> 11) - (1 << 52)) / Float(1 << 52) }
}

/// A matrix of `rows` × `cols` with row stride `ld`, placed `offset` floats into an allocation of exactly the
/// size it needs (plus guard floats around it for outputs), so the address sanitizer sees any read past the end
/// and the guards show any write outside the matrix, including the gap between `cols` and `ld`.
final class TestMatrix {
    static let guardValue: Float = -12345.5
    let rows: Int, cols: Int, ld: Int, offset: Int, guardCount: Int
    let raw: UnsafeMutablePointer<Float>
    let total: Int

    init(rows: Int, cols: Int, ld: Int, offset: Int, guardCount: Int, rng: inout TestRandom) {
        self.rows = rows
        self.cols = cols
        self.ld = ld
        self.offset = offset
        self.guardCount = guardCount
        // Exactly the last row's used columns, so reading past the matrix leaves the allocation.
        let span = rows == 0 ? 0 : (rows - 1) * ld + cols
        total = offset + guardCount + max(span, 1) + guardCount
        raw = UnsafeMutablePointer<Float>.allocate(capacity: total)
        raw.initialize(repeating: TestMatrix.guardValue, count: total)
        for i in 0..<rows { for j in 0..<cols { self[i, j] = rng.float() } }
    }

    deinit { raw.deallocate() }

    var base: UnsafeMutablePointer<Float> { raw + offset + guardCount }

    subscript(i: Int, j: Int) -> Float {
        get { base[i * ld + j] }
        set { base[i * ld + j] = newValue }
    }

    func fill(_ value: Float) { for i in 0..<rows { for j in 0..<cols { self[i, j] = value } } }

    /// Every float outside the matrix proper still holds the guard value.
    var guardsIntact: Bool {
        for idx in 0..<total {
            let rel = idx - offset - guardCount
            if rel >= 0 && rel / ld < rows && rel % ld < cols { continue }
            if raw[idx] != TestMatrix.guardValue { return false }
        }
        return true
    }
}

struct GEMMCase: CustomStringConvertible, Sendable {
    var transA: Transpose, transB: Transpose
    var m: Int, n: Int, k: Int
    var alpha: Float, beta: Float
    var ldPad: Int = 0
    var offset: Int = 0
    var threads: Int = 1

    var description: String {
        "\(transA == .none ? "N" : "T")\(transB == .none ? "N" : "T") m=\(m) n=\(n) k=\(k) α=\(alpha) β=\(beta) ldPad=\(ldPad) offset=\(offset) threads=\(threads)"
    }
}

/// Runs one case with `kernel` and returns the worst error as a fraction of its bound (≤ 1 passes) and whether
/// the guards around C survived. The reference is a Float64 triple loop; the bound is relative to k·|α||A||B|.
func runGEMMCase(_ t: GEMMCase, kernel: GEMMKernel, seed: UInt64) -> (worst: Double, guardsIntact: Bool) {
    var rng = TestRandom(seed: seed)
    let (aRows, aCols) = t.transA == .none ? (t.m, t.k) : (t.k, t.m)
    let (bRows, bCols) = t.transB == .none ? (t.k, t.n) : (t.n, t.k)
    let a = TestMatrix(rows: aRows, cols: aCols, ld: max(1, aCols + t.ldPad), offset: t.offset, guardCount: 0, rng: &rng)
    let b = TestMatrix(rows: bRows, cols: bCols, ld: max(1, bCols + t.ldPad), offset: t.offset, guardCount: 0, rng: &rng)
    let c = TestMatrix(rows: t.m, cols: t.n, ld: max(1, t.n + 2 * t.ldPad), offset: t.offset, guardCount: 17, rng: &rng)
    if t.beta == 0 { c.fill(.nan) }
    let c0 = (0..<t.m).map { i in (0..<t.n).map { j in c[i, j] } }

    sgemm(
        transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
        a: a.base, lda: a.ld, b: b.base, ldb: b.ld, beta: t.beta, c: c.base, ldc: c.ld,
        threads: t.threads, kernel: kernel)

    let eps = Double(Float.ulpOfOne)
    var worst = 0.0
    for i in 0..<t.m {
        for j in 0..<t.n {
            var dot = 0.0
            var mag = 0.0
            for p in 0..<t.k {
                let av = Double(t.transA == .none ? a[i, p] : a[p, i])
                let bv = Double(t.transB == .none ? b[p, j] : b[j, p])
                dot += av * bv
                mag += abs(av * bv)
            }
            let prior = t.beta == 0 ? 0 : Double(t.beta) * Double(c0[i][j])
            let ref = Double(t.alpha) * dot + prior
            let bound = 2 * eps * (Double(t.k + 4) * abs(Double(t.alpha)) * mag + 4 * abs(prior)) + 1e-30
            let err = abs(Double(c[i, j]) - ref)
            worst = max(worst, err.isNaN ? .infinity : err / bound)
        }
    }
    return (worst, c.guardsIntact)
}
