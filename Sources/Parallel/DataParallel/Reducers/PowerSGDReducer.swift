import Collectives
import NN
import Tensors

/// PowerSGD (Vogels, Karimireddy & Jaggi, 2019), as PyTorch's `powerSGD_hook`: each 2-D weight gradient M (n×m)
/// of a bucket travels as two thin factors. With Q (m×r) kept from the last step (warm start; at first drawn from
/// a seeded generator, the same on every rank):
///   P = M·Q, all-reduced (sum) and orthonormalised (Gram–Schmidt in fp32);  Q = Mᵀ·P, all-reduced;  M ← P·Qᵀ.
/// P·Qᵀ = P·Pᵀ·ΣM: the projection of the replicas' summed gradient, identical on every rank. With error feedback
/// each rank keeps M − P·(MᵀP)ᵀ, the part of its own gradient the projection dropped, for its next step. Biases
/// and matrices too small to gain (r(n+m) ≥ nm) go uncompressed, in one fp32 all-reduce per bucket.
///
/// Bytes per step, per rank: 2(N−1)/N · 4 · (Σ r(n+m) over compressed matrices + uncompressed elements).
public final class PowerSGDReducer: GradientReducer {
    /// A weight matrix inside the flat gradient buffer: `rows`×`cols` from `offset`, row-major.
    public struct Matrix: Sendable {
        public var offset: Int
        public var rows: Int
        public var cols: Int

        public init(offset: Int, rows: Int, cols: Int) {
            self.offset = offset
            self.rows = rows
            self.cols = cols
        }
    }

    private let communicator: Communicator
    private let matrices: [Matrix]
    private let rank: Int
    private let errorFeedback: Bool
    private let startStep: Int
    private var steps = BucketSteps()
    private var residuals = Residuals()
    /// Warm-started Q per matrix (by offset), m×r.
    private var qs: [Int: [Float]] = [:]
    /// Each bucket's uncompressed part, packed (the storage is reused from step to step).
    private var packedParts: [Int: [Float]] = [:]

    public init(communicator: Communicator, matrices: [Matrix], rank: Int, errorFeedback: Bool, startStep: Int = 0) {
        self.communicator = communicator
        self.matrices = matrices
        self.rank = max(1, rank)
        self.errorFeedback = errorFeedback
        self.startStep = startStep
    }

    /// The 2-D weights of a model's layers (a layer's parameters with two dimensions), in flat-buffer order.
    public static func matrices(of model: Sequential) -> [Matrix] {
        var out: [Matrix] = []
        for (l, layer) in model.layers.enumerated() {
            var offset = model.layerRanges[l].lowerBound
            for (_, t) in layer.namedParameters {
                if t.shape.count == 2 { out.append(Matrix(offset: offset, rows: t.shape[0], cols: t.shape[1])) }
                offset += t.count
            }
        }
        return out
    }

    static func effectiveRank(_ m: Matrix, rank: Int) -> Int { min(rank, m.rows, m.cols) }

    /// Whether compressing `m` at `rank` sends fewer elements than it holds.
    static func compresses(_ m: Matrix, rank: Int) -> Bool {
        effectiveRank(m, rank: rank) * (m.rows + m.cols) < m.rows * m.cols
    }

    func effectiveRank(_ m: Matrix) -> Int { Self.effectiveRank(m, rank: rank) }
    func compresses(_ m: Matrix) -> Bool { Self.compresses(m, rank: rank) }

    public static func bytesPerStep(matrices: [Matrix], parameters: Int, rank: Int, ranks: Int) -> Double {
        var sent = parameters
        for m in matrices where compresses(m, rank: rank) {
            sent += effectiveRank(m, rank: rank) * (m.rows + m.cols) - m.rows * m.cols
        }
        return 2 * Double(ranks - 1) / Double(ranks) * 4 * Double(sent)
    }

    public func resumed(atStep step: Int) { steps.first = step }

    public func reduce(bucket: GradientBucket) throws {
        guard steps.next(bucket.index) >= startStep else {
            return try communicator.allReduce(bucket.values, op: .sum)
        }
        if errorFeedback { residuals.addInto(bucket.values, bucket: bucket.index) }
        let inside = matrices.filter {
            compresses($0) && $0.offset >= bucket.range.lowerBound && $0.offset + $0.rows * $0.cols <= bucket.range.upperBound
        }
        try reduceUncompressed(bucket, except: inside)
        guard !inside.isEmpty else { return }
        let g = bucket.values
        let base = bucket.range.lowerBound
        var p = try allReducedP(inside, g: g, base: base)
        orthonormalise(&p, inside)
        var q = qProducts(inside, g: g, base: base, p: p)
        if errorFeedback { keepResiduals(inside, bucket: bucket, p: p, localQ: q) }
        try communicator.allReduce(&q, op: .sum)
        decompress(inside, g: g, base: base, p: p, q: q)
    }

    /// Everything of the bucket that is not a compressed matrix (biases, small matrices): packed with block copies
    /// into one reused buffer, summed in one fp32 all-reduce, unpacked.
    private func reduceUncompressed(_ bucket: GradientBucket, except inside: [Matrix]) throws {
        let gaps = Self.uncovered(bucket.range, by: inside)
        let total = gaps.reduce(0) { $0 + $1.count }
        guard total > 0, let g = bucket.values.baseAddress else { return }
        var packed = packedParts.removeValue(forKey: bucket.index) ?? []
        if packed.count != total { packed = [Float](repeating: 0, count: total) }
        defer { packedParts[bucket.index] = packed }
        let base = bucket.range.lowerBound
        packed.withUnsafeMutableBufferPointer { out in
            var at = 0
            for gap in gaps {
                (out.baseAddress! + at).update(from: g + (gap.lowerBound - base), count: gap.count)
                at += gap.count
            }
        }
        try communicator.allReduce(&packed, op: .sum)
        packed.withUnsafeBufferPointer { src in
            var at = 0
            for gap in gaps {
                (g + (gap.lowerBound - base)).update(from: src.baseAddress! + at, count: gap.count)
                at += gap.count
            }
        }
    }

    /// The parts of `range` (flat-buffer indices) that no matrix of `inside` covers, in order.
    static func uncovered(_ range: Range<Int>, by inside: [Matrix]) -> [Range<Int>] {
        var gaps: [Range<Int>] = []
        var at = range.lowerBound
        for m in inside.sorted(by: { $0.offset < $1.offset }) {
            if m.offset > at { gaps.append(at..<m.offset) }
            at = max(at, m.offset + m.rows * m.cols)
        }
        if at < range.upperBound { gaps.append(at..<range.upperBound) }
        return gaps
    }

    /// P = M·Q for every matrix, packed and all-reduced.
    private func allReducedP(_ inside: [Matrix], g: UnsafeMutableBufferPointer<Float>, base: Int) throws -> [Float] {
        var p = [Float](repeating: 0, count: inside.reduce(0) { $0 + $1.rows * effectiveRank($1) })
        var at = 0
        for m in inside {
            let r = effectiveRank(m)
            let q = warmQ(m)
            p.withUnsafeMutableBufferPointer { pb in
                q.withUnsafeBufferPointer { qb in
                    sgemm(
                        transA: .none, transB: .none, m: m.rows, n: r, k: m.cols, alpha: 1,
                        a: g.baseAddress! + (m.offset - base), lda: m.cols, b: qb.baseAddress!, ldb: r, beta: 0,
                        c: pb.baseAddress! + at, ldc: r)
                }
            }
            at += m.rows * r
        }
        try communicator.allReduce(&p, op: .sum)
        return p
    }

    /// Q = Mᵀ·P for every matrix (this rank's own M), packed.
    private func qProducts(_ inside: [Matrix], g: UnsafeMutableBufferPointer<Float>, base: Int, p: [Float]) -> [Float] {
        var q = [Float](repeating: 0, count: inside.reduce(0) { $0 + $1.cols * effectiveRank($1) })
        var (pAt, qAt) = (0, 0)
        for m in inside {
            let r = effectiveRank(m)
            q.withUnsafeMutableBufferPointer { qb in
                p.withUnsafeBufferPointer { pb in
                    sgemm(
                        transA: .transpose, transB: .none, m: m.cols, n: r, k: m.rows, alpha: 1,
                        a: g.baseAddress! + (m.offset - base), lda: m.cols, b: pb.baseAddress! + pAt, ldb: r, beta: 0,
                        c: qb.baseAddress! + qAt, ldc: r)
                }
            }
            pAt += m.rows * r
            qAt += m.cols * r
        }
        return q
    }

    /// Each rank's own dropped part, M − P·Q_localᵀ, for its next step: M copied into the bucket's kept residual
    /// storage and the product subtracted there by the GEMM (β = 1), with no scratch buffer. Outside the matrices
    /// the storage stays zero: those parts are summed exactly. A step with a NaN or infinity in any rank's M
    /// (P = ΣM·Q is then not finite everywhere) keeps a zero residual: the trainer skips that step, and a residual
    /// that kept the NaN would bring it back in every later step.
    private func keepResiduals(_ inside: [Matrix], bucket: GradientBucket, p: [Float], localQ: [Float]) {
        guard let g = bucket.values.baseAddress else { return }
        let base = bucket.range.lowerBound
        let finite = p.allSatisfy(\.isFinite) && localQ.allSatisfy(\.isFinite)
        residuals.withStorage(bucket: bucket.index, count: bucket.values.count) { residual in
            guard let out = residual.baseAddress else { return }
            guard finite else {
                for m in inside { (out + m.offset - base).update(repeating: 0, count: m.rows * m.cols) }
                return
            }
            var (pAt, qAt) = (0, 0)
            for m in inside {
                let (at, r) = (m.offset - base, effectiveRank(m))
                (out + at).update(from: g + at, count: m.rows * m.cols)
                p.withUnsafeBufferPointer { pb in
                    localQ.withUnsafeBufferPointer { qb in
                        sgemm(
                            transA: .none, transB: .transpose, m: m.rows, n: m.cols, k: r, alpha: -1,
                            a: pb.baseAddress! + pAt, lda: r, b: qb.baseAddress! + qAt, ldb: r, beta: 1,
                            c: out + at, ldc: m.cols)
                    }
                }
                pAt += m.rows * r
                qAt += m.cols * r
            }
        }
    }

    /// M ← P·Qᵀ for every matrix; the all-reduced Q is kept as the next step's warm start.
    private func decompress(
        _ inside: [Matrix], g: UnsafeMutableBufferPointer<Float>, base: Int, p: [Float], q: [Float]
    ) {
        var (pAt, qAt) = (0, 0)
        for m in inside {
            let r = effectiveRank(m)
            p.withUnsafeBufferPointer { pb in
                q.withUnsafeBufferPointer { qb in
                    sgemm(
                        transA: .none, transB: .transpose, m: m.rows, n: m.cols, k: r, alpha: 1,
                        a: pb.baseAddress! + pAt, lda: r, b: qb.baseAddress! + qAt, ldb: r, beta: 0,
                        c: g.baseAddress! + (m.offset - base), ldc: m.cols)
                }
            }
            keepWarmStart(Array(q[qAt..<(qAt + m.cols * r)]), for: m)
            pAt += m.rows * r
            qAt += m.cols * r
        }
    }

    /// Gram–Schmidt on the columns of each matrix's P (n×r, row-major), in fp32, each projection done twice
    /// ("twice is enough", Giraud et al. 2005): one pass leaves a nearly dependent column (a gradient of lower rank
    /// than r) far from orthogonal, and P·Pᵀ then counts that direction twice. A column with nothing left after
    /// the projections is set to zero rather than blown up from rounding noise.
    private func orthonormalise(_ p: inout [Float], _ inside: [Matrix]) {
        var at = 0
        for m in inside {
            let (n, r) = (m.rows, effectiveRank(m))
            p.withUnsafeMutableBufferPointer { b in Self.gramSchmidt(b.baseAddress! + at, rows: n, cols: r) }
            at += n * r
        }
    }

    static func gramSchmidt(_ base: UnsafeMutablePointer<Float>, rows n: Int, cols r: Int) {
        func dot(_ a: Int, _ b: Int) -> Float {
            var s: Float = 0
            for i in 0..<n { s += base[i * r + a] * base[i * r + b] }
            return s
        }
        for c in 0..<r {
            let before = dot(c, c).squareRoot()
            for _ in 0..<2 {
                for prev in 0..<c {
                    let d = dot(c, prev)
                    for i in 0..<n { base[i * r + c] -= d * base[i * r + prev] }
                }
            }
            let norm = dot(c, c).squareRoot()
            let scale: Float = norm > 1e-5 * before && norm > 0 ? 1 / norm : 0
            for i in 0..<n { base[i * r + c] *= scale }
        }
    }

    /// Keeps `q` as `m`'s next warm start unless a NaN or infinity reached it (a diverging step): a poisoned Q
    /// would poison every later step's P, so the next step starts again from the seeded Q.
    private func keepWarmStart(_ q: [Float], for m: Matrix) {
        qs[m.offset] = q.allSatisfy(\.isFinite) ? q : nil
    }

    /// The kept Q of `m`, or a seeded random one (the same on every rank) on its first step.
    private func warmQ(_ m: Matrix) -> [Float] {
        if let q = qs[m.offset] { return q }
        var rng = Xoshiro256(seed: 0x5057_5253_4744 ^ UInt64(m.offset))
        return (0..<(m.cols * effectiveRank(m))).map { _ in Float(rng.nextNormal()) }
    }
}
