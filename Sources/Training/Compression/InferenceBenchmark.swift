import Datasets
import Foundation
import NN
import Tensors

/// What `cohort eval` measures of a model on this machine, one thread: test accuracy, and per batch size the
/// forward latency (median and 99th percentile of single calls) and throughput (samples/s over whole passes).
/// Inputs are copied into batches beforehand, so data loading is not timed.
public struct InferenceBenchmark {
    public struct Timing: Sendable {
        public let batch: Int
        public let medianMs: Double
        public let p99Ms: Double
        public let samplesPerSecond: Double
    }

    public let model: Sequential
    public let test: LabeledDataset

    public init(model: Sequential, test: LabeledDataset) {
        self.model = model
        self.test = test
    }

    /// The fraction of test examples whose largest output is the label.
    public func accuracy() -> Double {
        let buffer = BatchBuffer(capacity: 1000, featureCount: test.featureCount)
        var correct = 0
        var lo = 0
        while lo < test.count {
            let hi = min(lo + 1000, test.count)
            let (x, y) = buffer.load(Array(lo..<hi)[...], from: test)
            correct += correctPredictions(model.forward(x, training: false), labels: y)
            lo = hi
        }
        return test.count > 0 ? Double(correct) / Double(test.count) : 0
    }

    /// Calls of `batch` rows over the test set (cycling) for about `seconds` after a warm-up: every call timed.
    public func time(batch: Int, seconds: Double = 1.0) -> Timing {
        let width = test.featureCount
        let batches = (0..<8).map { b -> Tensor in
            let x = Tensor(shape: [batch, width])
            for r in 0..<batch {
                let row = (b * batch + r) % max(1, test.count)
                if test.count > 0 { (x.pointer + r * width).update(from: test.features.pointer + row * width, count: width) }
            }
            return x
        }
        for x in batches.prefix(8) { _ = model.forward(x, training: false) }
        var times: [Double] = []
        let start = clock()
        var i = 0
        while times.count < 20 || (clock() - start < seconds && times.count < 200_000) {
            let t0 = clock()
            _ = model.forward(batches[i % batches.count], training: false)
            times.append(clock() - t0)
            i += 1
        }
        let total = times.reduce(0, +)
        times.sort()
        let p99 = times[min(times.count - 1, Int((0.99 * Double(times.count)).rounded(.up)) - 1)]
        return Timing(
            batch: batch, medianMs: times[times.count / 2] * 1e3, p99Ms: p99 * 1e3,
            samplesPerSecond: Double(batch * times.count) / total)
    }

    private func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
