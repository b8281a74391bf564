/// The naive int8 GEMM every kernel is checked against: C = A·B with A m×k and B k×n signed int8 (row strides
/// `lda`, `ldb`), int32 sums of int32 products, then the store of `output` written out in Swift.
/// No packing, no offset trick: the kernels must equal this exactly.
public func referenceInt8Gemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Int8>, lda: Int,
    b: UnsafePointer<Int8>, ldb: Int,
    output: Int8GEMMOutput
) {
    for i in 0..<m {
        for j in 0..<n {
            var acc: Int32 = 0
            for p in 0..<k { acc &+= Int32(a[i * lda + p]) &* Int32(b[p * ldb + j]) }
            switch output {
            case .int32(let c, let ldc):
                c[i * ldc + j] = acc
            case .float32(let c, let ldc, let rq):
                c[i * ldc + j] = rq.dequantize(acc, column: j)
            case .int8(let c, let ldc, let rq, let outputScale):
                c[i * ldc + j] = Int8Requantization.quantize(rq.dequantize(acc, column: j), inverseScale: 1 / outputScale)
            }
        }
    }
}
