import Collectives
import Training

/// Top-k sparsification with error feedback (Deep Gradient Compression, Lin et al. 2018): per bucket, the
/// k = ⌈density · count⌉ entries of largest magnitude (ties to the lower index) travel as (index, value) pairs,
/// all-gathered from every rank and summed into a dense bucket in rank order, so every rank ends with the same
/// bits. What was not sent stays in the rank's residual and joins its next gradient.
///
/// Bytes per step, per rank: the ring all-gather forwards every other rank's pairs, (N−1) · 8k.
public final class TopKReducer: GradientReducer {
    private let communicator: Communicator
    private let density: Double
    private let errorFeedback: Bool
    private let startStep: Int
    private var steps = BucketSteps()
    private var residuals = Residuals()

    public init(communicator: Communicator, density: Double, errorFeedback: Bool, startStep: Int = 0) {
        self.communicator = communicator
        self.density = density
        self.errorFeedback = errorFeedback
        self.startStep = startStep
    }

    public static func k(count: Int, density: Double) -> Int {
        min(count, max(1, Int((density * Double(count)).rounded(.up))))
    }

    public static func bytesPerStep(bucketCounts: [Int], density: Double, ranks: Int) -> Double {
        Double(ranks - 1) * 8 * Double(bucketCounts.reduce(0) { $0 + k(count: $1, density: density) })
    }

    public func resumed(atStep step: Int) { steps.first = step }

    public func reduce(bucket: GradientBucket) throws {
        let values = bucket.values
        guard steps.next(bucket.index) >= startStep, values.count > 0 else {
            return try communicator.allReduce(values, op: .sum)
        }
        // Indices travel as exact Float integers.
        guard values.count <= 1 << 24 else {
            throw RuntimeError.invalid("top-k: a bucket of \(values.count) elements is over 2^24; use a smaller --bucket-kb")
        }
        if errorFeedback { residuals.addInto(values, bucket: bucket.index) }
        let chosen = Self.largest(values, k: Self.k(count: values.count, density: density))
        var pairs = [Float](repeating: 0, count: 2 * chosen.count)
        for (j, i) in chosen.enumerated() {
            pairs[2 * j] = Float(i)
            pairs[2 * j + 1] = values[i]
        }
        if errorFeedback {
            // What is not finite is not kept: the trainer skips this step, and a kept NaN would return every step.
            var residual = values.map { $0.isFinite ? $0 : 0 }
            for i in chosen { residual[i] = 0 }
            residuals.set(residual, bucket: bucket.index)
        }
        let all = try communicator.allGather(pairs)
        values.update(repeating: 0)
        for j in stride(from: 0, to: all.count, by: 2) {
            let i = Int(all[j])
            guard i >= 0, i < values.count else { continue }
            values[i] += all[j + 1]
        }
    }

    /// Indices of the k largest |values|, ties to the lower index, in ascending index order: a threshold by
    /// selection (expected linear time), then one pass.
    public static func largest(_ values: UnsafeMutableBufferPointer<Float>, k: Int) -> [Int] {
        guard k < values.count else { return Array(0..<values.count) }
        var magnitudes = values.map { $0.isNaN ? Float.infinity : abs($0) }
        let threshold = select(&magnitudes, rank: k - 1)
        var ties = k - values.reduce(0) { $0 + (m($1) > threshold ? 1 : 0) }
        var chosen: [Int] = []
        chosen.reserveCapacity(k)
        for i in values.indices {
            let v = m(values[i])
            if v > threshold {
                chosen.append(i)
            } else if v == threshold && ties > 0 {
                chosen.append(i)
                ties -= 1
            }
        }
        return chosen
    }

    @inline(__always) private static func m(_ x: Float) -> Float { x.isNaN ? .infinity : abs(x) }

    /// The value of rank `r` (0 = largest) in descending order: Hoare's selection, deterministic middle pivots.
    static func select(_ a: inout [Float], rank r: Int) -> Float {
        var lo = 0
        var hi = a.count - 1
        while lo < hi {
            let pivot = a[(lo + hi) / 2]
            var i = lo
            var j = hi
            while i <= j {
                while a[i] > pivot { i += 1 }
                while a[j] < pivot { j -= 1 }
                if i <= j {
                    a.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if r <= j {
                hi = j
            } else if r >= i {
                lo = i
            } else {
                return a[r]
            }
        }
        return a[r]
    }
}
