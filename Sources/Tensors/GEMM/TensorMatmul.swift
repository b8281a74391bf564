/// Matrix products on `Tensor`s, on top of `sgemm`. Tensors are viewed as matrices (`rows` × `columns`), the
/// layout the NN layers use: activations are batch × features, weights are in × out.
extension Tensor {
    /// out = α·op(a)·op(b) + β·out. With β = 0, `out`'s previous contents (even NaN) are ignored.
    public static func matmul(
        _ a: Tensor, _ b: Tensor, transA: Transpose = .none, transB: Transpose = .none,
        alpha: Float = 1, beta: Float = 0, into out: Tensor, threads: Int = 1
    ) {
        let m = transA == .none ? a.rows : a.columns
        let k = transA == .none ? a.columns : a.rows
        let kb = transB == .none ? b.rows : b.columns
        let n = transB == .none ? b.columns : b.rows
        precondition(k == kb, "matmul: inner dimensions differ: op(a) is \(m)×\(k), op(b) is \(kb)×\(n)")
        precondition(out.rows == m && out.columns == n, "matmul: output is \(out.shape), expected [\(m), \(n)]")
        sgemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
            a: a.pointer, lda: max(1, a.columns), b: b.pointer, ldb: max(1, b.columns),
            beta: beta, c: out.pointer, ldc: max(1, n), threads: threads)
    }

    /// A new [m, n] tensor holding op(self)·op(b).
    public func matmul(_ b: Tensor, transA: Transpose = .none, transB: Transpose = .none, threads: Int = 1) -> Tensor {
        let m = transA == .none ? rows : columns
        let n = transB == .none ? b.columns : b.rows
        let out = Tensor(shape: [m, n])
        Tensor.matmul(self, b, transA: transA, transB: transB, into: out, threads: threads)
        return out
    }
}
