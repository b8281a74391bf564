/// How many times each bucket has been reduced: a reducer's own step count, the same on every rank (every rank
/// reduces the same buckets in the same order), so no step number has to be passed in.
struct BucketSteps {
    private var counts: [Int: Int] = [:]

    /// The 0-based step of this call for `bucket`, counting it.
    mutating func next(_ bucket: Int) -> Int {
        let step = counts[bucket, default: 0]
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

    /// Keeps `residual` for `bucket`.
    mutating func set(_ residual: [Float], bucket: Int) { values[bucket] = residual }
}
