import Foundation
import NN
import Parallel
import Runtime
import Testing

/// Records each bucket it is handed and multiplies its slice by (index + 1), so a test can see that every bucket
/// reached the reducer once, with its own index and the right slice of the flat gradient buffer.
private final class ScalingReducer: GradientReducer, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var prepared: [Range<Int>] = []
    private(set) var seen: [(index: Int, range: Range<Int>, count: Int)] = []

    func prepare(buckets: [Range<Int>]) { prepared = buckets }

    func reduce(bucket: GradientBucket) throws {
        for i in bucket.values.indices { bucket.values[i] *= Float(bucket.index + 1) }
        lock.lock()
        seen.append((bucket.index, bucket.range, bucket.values.count))
        lock.unlock()
    }
}

@Suite(.timeLimit(.minutes(3)))
struct GradientReducerTests {
    @Test(arguments: [64, 1000])
    func everyBucketIsReducedOnceWithItsIndexAndSlice(bucketBytes: Int) throws {
        let model = try smallJob(steps: 1, layers: [16, 24, 24, 5]).makeModel()
        for i in 0..<model.parameterCount { model.gradients.pointer[i] = Float(i % 7) - 3 }
        let before = model.gradients.array
        let reducer = ScalingReducer()
        let buckets = GradientBuckets(model: model, bucketBytes: bucketBytes, reducer: reducer)
        defer { buckets.shutdown() }
        #expect(reducer.prepared == buckets.buckets)
        for layer in model.layers.indices.reversed() { buckets.layerReady(layer) }
        _ = try buckets.finishStep()

        #expect(reducer.seen.map(\.index) == Array(buckets.buckets.indices))
        for s in reducer.seen {
            #expect(s.range == buckets.buckets[s.index])
            #expect(s.count == s.range.count)
        }
        let after = model.gradients.array
        for (b, r) in buckets.buckets.enumerated() {
            #expect(r.allSatisfy { after[$0] == before[$0] * Float(b + 1) }, "bucket \(b)")
        }
    }
}
