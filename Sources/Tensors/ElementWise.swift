import RealModule

/// Element-wise operations. Scalar loops written so the compiler vectorises them
/// (`Relaxed` lets it reassociate sums and fuse multiply-adds).
extension Tensor {
    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    public func zero() { fill(0) }

    /// self = other (same element count).
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "assign: \(other.shape) into \(shape)")
        pointer.update(from: other.pointer, count: count)
    }

    /// self += alpha * x
    public func addScaled(_ x: Tensor, _ alpha: Float) {
        precondition(x.count == count, "addScaled: \(x.shape) into \(shape)")
        let p = pointer
        let q = x.pointer
        for i in 0..<count { p[i] = Relaxed.multiplyAdd(alpha, q[i], p[i]) }
    }

    public func add(_ x: Tensor) { addScaled(x, 1) }

    public func scale(_ alpha: Float) {
        let p = pointer
        for i in 0..<count { p[i] *= alpha }
    }

    /// self *= x element-wise.
    public func multiply(_ x: Tensor) {
        precondition(x.count == count, "multiply: \(x.shape) into \(shape)")
        let p = pointer
        let q = x.pointer
        for i in 0..<count { p[i] *= q[i] }
    }

    public func sum() -> Float {
        let p = pointer
        var s: Float = 0
        for i in 0..<count { s = Relaxed.sum(s, p[i]) }
        return s
    }

    public func dot(_ x: Tensor) -> Float {
        precondition(x.count == count, "dot: \(x.shape) with \(shape)")
        let p = pointer
        let q = x.pointer
        var s: Float = 0
        for i in 0..<count { s = Relaxed.multiplyAdd(p[i], q[i], s) }
        return s
    }

    public func squaredNorm() -> Float { dot(self) }

    public func map(_ f: (Float) -> Float) -> Tensor {
        let out = Tensor(shape: shape)
        let p = pointer
        let q = out.pointer
        for i in 0..<count { q[i] = f(p[i]) }
        return out
    }

    public func apply(_ f: (Float) -> Float) {
        let p = pointer
        for i in 0..<count { p[i] = f(p[i]) }
    }

    /// Adds `row` (length = columns) to every row: a bias broadcast.
    public func addRowVector(_ row: Tensor) {
        let cols = columns
        precondition(row.count == cols, "addRowVector: \(row.shape) onto \(shape)")
        let r = row.pointer
        for i in 0..<rows {
            let p = pointer + i * cols
            for j in 0..<cols { p[j] += r[j] }
        }
    }

    /// out[j] (+)= Σ_i self[i, j]: the bias gradient.
    public func sumRows(into out: Tensor, accumulate: Bool = false) {
        let cols = columns
        precondition(out.count == cols, "sumRows: into \(out.shape) from \(shape)")
        let o = out.pointer
        if !accumulate { out.zero() }
        for i in 0..<rows {
            let p = pointer + i * cols
            for j in 0..<cols { o[j] += p[j] }
        }
    }

    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(other.count == count)
        var m: Float = 0
        for i in 0..<count { m = Swift.max(m, abs(pointer[i] - other.pointer[i])) }
        return m
    }
}
