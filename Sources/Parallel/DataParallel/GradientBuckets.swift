import Collectives
import Foundation
import NN
import Tensors

/// Overlaps the gradient all-reduce with backward, as PyTorch DDP does: the flat gradient buffer is cut into
/// buckets of whole layers, filled from the last layer backwards (the order backward finishes them). When a
/// bucket's first layer is done, the bucket is handed to a communication thread that all-reduces that contiguous
/// slice while backward goes on with earlier layers.
///
/// Every rank builds the same buckets and finishes them in the same order, so the collectives line up. How a
/// bucket is combined is the `GradientReducer`'s business; the buckets only schedule it.
public final class GradientBuckets: @unchecked Sendable {
    /// Contiguous slices of the gradient buffer, in the order they are reduced (last layers first).
    public let buckets: [Range<Int>]
    /// For each layer: the bucket it closes (its lowest layer), if any.
    private let closes: [Int?]
    private let gradients: Tensor
    let reducer: GradientReducer?

    private let lock = NSCondition()
    private var queue: [Int] = []
    private var completed = 0
    private var failure: Error?
    private var shuttingDown = false
    private var reduceNanos: UInt64 = 0

    /// `communicator` nil: no all-reduce (the compute-only diagnostic); otherwise the fp32 sum (`SumReducer`).
    public convenience init(model: Sequential, bucketBytes: Int, communicator: Communicator?) {
        self.init(model: model, bucketBytes: bucketBytes, reducer: communicator.map { SumReducer(communicator: $0) })
    }

    /// `reducer` nil: no reduction (the compute-only diagnostic).
    public init(model: Sequential, bucketBytes: Int, reducer: GradientReducer?) {
        let maxFloats = max(bucketBytes / MemoryLayout<Float>.stride, 1)
        var buckets: [Range<Int>] = []
        var closes = [Int?](repeating: nil, count: model.layers.count)
        var upper: Int? = nil
        var lower = 0
        for layer in model.layers.indices.reversed() {
            let r = model.layerRanges[layer]
            guard !r.isEmpty else { continue }
            if upper == nil { upper = r.upperBound }
            lower = r.lowerBound
            if upper! - lower >= maxFloats {
                closes[layer] = buckets.count
                buckets.append(lower..<upper!)
                upper = nil
            }
        }
        if let u = upper {
            // The remainder closes at the lowest layer that has parameters.
            let lowest = model.layers.indices.first { !model.layerRanges[$0].isEmpty }!
            closes[lowest] = buckets.count
            buckets.append(lower..<u)
        }
        self.buckets = buckets
        self.closes = closes
        self.gradients = model.gradients
        self.reducer = reducer
        if let reducer {
            reducer.prepare(buckets: buckets)
            // The thread holds the buckets until `shutdown` lets it return: a worker that fails right after
            // building them (a resume that finds no checkpoint) is freed while the thread may not even have run,
            // and an unowned capture then read a freed object.
            let t = Thread { [self] in self.serve() }
            t.name = "cohort-allreduce"
            t.start()
        }
    }

    /// Call from `Sequential.onLayerGradientsReady`.
    public func layerReady(_ layer: Int) {
        guard reducer != nil, let b = closes[layer] else { return }
        lock.lock()
        queue.append(b)
        lock.signal()
        lock.unlock()
    }

    /// Waits until every bucket of this step is reduced. Returns the seconds spent waiting here (communication
    /// that backward did not hide) and the seconds the communication thread spent reducing this step.
    public func finishStep() throws -> (waitSeconds: Double, allReduceSeconds: Double) {
        guard reducer != nil else { return (0, 0) }
        let start = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        while completed < buckets.count && failure == nil { lock.wait() }
        let error = failure
        completed = 0
        let reduce = reduceNanos
        reduceNanos = 0
        lock.unlock()
        if let error { throw error }
        return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, Double(reduce) / 1e9)
    }

    /// Stops the communication thread.
    public func shutdown() {
        lock.lock()
        shuttingDown = true
        lock.broadcast()
        lock.unlock()
    }

    private func serve() {
        while true {
            lock.lock()
            while queue.isEmpty && !shuttingDown { lock.wait() }
            if queue.isEmpty {
                lock.unlock()
                return
            }
            let b = queue.removeFirst()
            lock.unlock()
            let r = buckets[b]
            let start = DispatchTime.now().uptimeNanoseconds
            var err: Error? = nil
            lock.lock()
            let failed = failure != nil
            lock.unlock()
            // After a failure the remaining buckets are only counted: each would wait out the deadline again.
            if !failed, let reducer {
                do {
                    try reducer.reduce(
                        bucket: GradientBucket(
                            index: b, range: r,
                            values: UnsafeMutableBufferPointer(start: gradients.pointer + r.lowerBound, count: r.count)))
                } catch {
                    err = error
                }
            }
            lock.lock()
            reduceNanos += DispatchTime.now().uptimeNanoseconds - start
            if let err { failure = failure ?? err }
            completed += 1
            lock.broadcast()
            lock.unlock()
        }
    }
}
