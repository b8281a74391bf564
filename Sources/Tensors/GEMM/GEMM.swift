/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none, transpose
}

/// C = α·op(A)·op(B) + β·C on row-major fp32 matrices.
///
/// op(A) is m×k, op(B) is k×n, C is m×n; `lda`, `ldb`, `ldc` are the row strides of A, B and C as stored.
/// β = 0 overwrites C without reading it (NaN in C is ignored), as BLAS does.
///
/// PLACEHOLDER: calls the reference kernel until the blocked SIMD path lands.
public func sgemm(
    transA: Transpose, transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    threads: Int = 1
) {
    referenceSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                   a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}
