/// The element-wise loops of a training step, written on SIMD8 vectors explicitly: the scalar forms
/// (`max`, `x > 0 ? d : 0`, a read-modify-write over three buffers) are not auto-vectorised by the Swift compiler
/// (NaN semantics, branches, possible aliasing), and in W1 they cost as much as a GEMM.
typealias Vec = SIMD8<Float>

@inline(__always) func load(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
@inline(__always) func load(_ p: UnsafeMutablePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
@inline(__always) func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// y = max(x, 0)
func reluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        let v = load(x + i)
        store(v.replacing(with: 0, where: v .< 0), y + i)
        i += 8
    }
    while i < n {
        y[i] = x[i] > 0 ? x[i] : 0
        i += 1
    }
}

/// d = y > 0 ? d : 0
func reluBackward(_ y: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        store(load(d + i).replacing(with: 0, where: load(y + i) .<= 0), d + i)
        i += 8
    }
    while i < n {
        if !(y[i] > 0) { d[i] = 0 }
        i += 1
    }
}

/// out[j] (+)= Σ_r m[r, j] over a [rows, cols] matrix (bias gradients). Four rows at a time, so the matrix streams
/// sequentially while `out` stays in L1 and is loaded and stored once per four rows: one row at a time, its two
/// loads and a store per vector held the loop to a third of an L2 triad's rate (`bench roofline`, run alone).
func columnSums(_ m: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, accumulate: Bool) {
    if !accumulate { out.update(repeating: 0, count: cols) }
    var r = 0
    while r + 4 <= rows {
        let a = m + r * cols
        let (b, c, d) = (a + cols, a + 2 * cols, a + 3 * cols)
        var j = 0
        while j + 8 <= cols {
            store(load(out + j) + ((load(a + j) + load(b + j)) + (load(c + j) + load(d + j))), out + j)
            j += 8
        }
        while j < cols {
            out[j] += (a[j] + b[j]) + (c[j] + d[j])
            j += 1
        }
        r += 4
    }
    while r < rows {
        let row = m + r * cols
        var j = 0
        while j + 8 <= cols {
            store(load(out + j) + load(row + j), out + j)
            j += 8
        }
        while j < cols {
            out[j] += row[j]
            j += 1
        }
        r += 1
    }
}

/// v = μ·v + g; w −= lr·(nesterov ? g + μ·v : v)
func momentumUpdate(
    _ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
    _ n: Int, lr: Float, mu: Float, nesterov: Bool
) {
    var i = 0
    let lrv = Vec(repeating: lr)
    let muv = Vec(repeating: mu)
    while i + 8 <= n {
        let gi = load(g + i)
        let vi = muv * load(v + i) + gi
        store(vi, v + i)
        let step = nesterov ? gi + muv * vi : vi
        store(load(w + i) - lrv * step, w + i)
        i += 8
    }
    while i < n {
        let vi = mu * v[i] + g[i]
        v[i] = vi
        w[i] -= lr * (nesterov ? g[i] + mu * vi : vi)
        i += 1
    }
}

/// w −= lr·g
func sgdUpdate(_ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ n: Int, lr: Float) {
    var i = 0
    let lrv = Vec(repeating: lr)
    while i + 8 <= n {
        store(load(w + i) - lrv * load(g + i), w + i)
        i += 8
    }
    while i < n {
        w[i] -= lr * g[i]
        i += 1
    }
}

/// max over n elements (−∞ for none; NaN-free inputs assumed, as in softmax's shift).
func maxElement(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var acc = Vec(repeating: -.infinity)
    // A compare and a select: `pointwiseMax` keeps IEEE maxNum's NaN rules and is not one instruction (5× slower).
    while i + 8 <= n {
        let v = load(x + i)
        acc = acc.replacing(with: v, where: v .> acc)
        i += 8
    }
    var m = acc.max()
    while i < n {
        m = Swift.max(m, x[i])
        i += 1
    }
    return m
}
