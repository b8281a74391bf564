import Collectives

/// How many times each bucket has been reduced: a reducer's own step count, the same on every rank (every rank
/// reduces the same buckets in the same order), so no step number has to be passed in.
struct BucketSteps {
    private var counts: [Int: Int] = [:]
    /// The training step the count starts from (non-zero after a resume).
    var first = 0

    /// The 0-based step of this call for `bucket`, counting it.
    mutating func next(_ bucket: Int) -> Int {
        let step = counts[bucket, default: first]
        counts[bucket] = step + 1
        return step
    }
}

/// A residual per bucket: what compression dropped, added to the bucket's next gradient (error feedback).
struct Residuals {
    private var values: [Int: [Float]] = [:]

    /// Adds the residual of `bucket` into `gradient` (nothing on the first step).
    mutating func addInto(_ gradient: UnsafeMutableBufferPointer<Float>, bucket: Int) {
        guard let r = values[bucket], r.count == gradient.count else { return }
        r.withUnsafeBufferPointer { r in
            for i in 0..<gradient.count { gradient[i] += r[i] }
        }
    }

    /// The kept residual storage of `bucket`, `count` floats (zeros when new or resized), for a reducer that writes
    /// its residual in place rather than building a new array every step.
    mutating func withStorage(bucket: Int, count: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        var r = values.removeValue(forKey: bucket) ?? []
        if r.count != count { r = [Float](repeating: 0, count: count) }
        r.withUnsafeMutableBufferPointer { body($0) }
        values[bucket] = r
    }

    /// Keeps `residual` for `bucket`.
    mutating func set(_ residual: [Float], bucket: Int) { values[bucket] = residual }

    /// Error feedback around the wire's rounding: adds the kept residual into `gradient`, rounds it to `wire`, and
    /// keeps what the rounding dropped, in one pass over the bucket, reusing its residual storage (no allocation
    /// per step).
    mutating func roundWithFeedback(_ gradient: UnsafeMutableBufferPointer<Float>, bucket: Int, wire: WirePrecision) {
        withStorage(bucket: bucket, count: gradient.count) { wire.round(gradient, keepingResidualIn: $0) }
    }
}
