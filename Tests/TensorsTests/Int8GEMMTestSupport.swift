import Tensors

/// One int8 GEMM case: shapes, leading-dimension padding, and which output the store writes.
struct Int8Case: CustomStringConvertible {
    enum Kind: CaseIterable { case int32, float32, float32BiasReLU, int8 }
    let m: Int, n: Int, k: Int, pad: Int
    let kind: Kind
    var description: String { "m=\(m) n=\(n) k=\(k) pad=\(pad) \(kind)" }
}

/// Random int8 values with the extremes (−128, 127) over-represented, since they are where the offset trick and
/// the accumulators are tested hardest.
func randomInt8(_ count: Int, rng: inout TestRandom) -> [Int8] {
    (0..<count).map { _ in
        let r = rng.next()
        switch r % 8 {
        case 0: return -128
        case 1: return 127
        default: return Int8(truncatingIfNeeded: Int(r >> 8))
        }
    }
}

/// Runs `kernel` and the reference on the same inputs into outputs with guard values (C of `m` rows, stride
/// n + pad, filled with a sentinel); returns whether the two buffers are bitwise equal, guards included.
func runInt8Case(_ t: Int8Case, kernel: GEMMKernel, seed: UInt64) -> Bool {
    var rng = TestRandom(seed: seed)
    let lda = t.k + t.pad + 1
    let ldb = t.n + t.pad
    let ldc = t.n + t.pad
    let a = Buffer(randomInt8(max(1, t.m * lda), rng: &rng))
    let b = Buffer(randomInt8(max(1, t.k * ldb), rng: &rng))
    let scale = Buffer((0..<max(1, t.n)).map { _ in Float(rng.next() % 1000 + 1) * 1e-5 })
    let bias = Buffer((0..<max(1, t.n)).map { _ in rng.float() })
    let count = max(1, t.m * ldc)
    let run = { (got: Int8GEMMOutput, want: Int8GEMMOutput) in
        int8Gemm(m: t.m, n: t.n, k: t.k, a: a.pointer, lda: lda, b: b.pointer, ldb: ldb, output: got, kernel: kernel)
        referenceInt8Gemm(m: t.m, n: t.n, k: t.k, a: a.pointer, lda: lda, b: b.pointer, ldb: ldb, output: want)
    }
    switch t.kind {
    case .int32:
        let (got, want) = (
            Buffer([Int32](repeating: 0x5A5A_5A5A, count: count)), Buffer([Int32](repeating: 0x5A5A_5A5A, count: count))
        )
        run(.int32(got.pointer, ldc: ldc), .int32(want.pointer, ldc: ldc))
        return got.array == want.array
    case .float32, .float32BiasReLU:
        let (got, want) = (Buffer([Float](repeating: -7.25, count: count)), Buffer([Float](repeating: -7.25, count: count)))
        let withBias = t.kind == .float32BiasReLU
        let rq = Int8Requantization(scale: scale.pointer, bias: withBias ? bias.pointer : nil, relu: withBias)
        run(.float32(got.pointer, ldc: ldc, rq), .float32(want.pointer, ldc: ldc, rq))
        return got.array.map(\.bitPattern) == want.array.map(\.bitPattern)
    case .int8:
        let (got, want) = (Buffer([Int8](repeating: 99, count: count)), Buffer([Int8](repeating: 99, count: count)))
        let rq = Int8Requantization(scale: scale.pointer, bias: bias.pointer, relu: false)
        run(.int8(got.pointer, ldc: ldc, rq, outputScale: 0.01), .int8(want.pointer, ldc: ldc, rq, outputScale: 0.01))
        return got.array == want.array
    }
}

/// An allocation with a stable address for the whole test (arrays' `&` pointers live for one call only).
final class Buffer<T> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int
    init(_ values: [T]) {
        count = values.count
        pointer = .allocate(capacity: values.count)
        pointer.initialize(from: values, count: values.count)
    }
    deinit { pointer.deallocate() }
    var array: [T] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
