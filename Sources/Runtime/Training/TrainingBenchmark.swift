import Datasets
import Foundation
import NN
import Tensors

/// Training throughput of a job's model and optimizer, data loading excluded: a few batches of synthetic data are
/// prepared in memory up front and cycled, so only forward, backward, regularisation and the optimizer step are
/// timed. Each run builds a fresh model, takes `warmupSteps` untimed steps, then times `steps` steps.
public struct TrainingBenchmark: Sendable {
    public var job: JobSpec
    public var threads: Int
    public var warmupSteps: Int
    public var steps: Int

    public init(job: JobSpec, threads: Int, warmupSteps: Int, steps: Int) {
        self.job = job
        self.threads = threads
        self.warmupSteps = warmupSteps
        self.steps = steps
    }

    /// One run's samples per second.
    public func run(seed: UInt64) throws -> Double {
        var spec = job
        spec.seed = seed
        let model = try spec.makeModel()
        model.threads = threads
        let trainer = Trainer(model: model, optimizer: try spec.makeOptimizer(),
                              schedule: spec.makeSchedule(totalSteps: warmupSteps + steps),
                              regularization: spec.makeRegularization())
        let b = spec.batchSize, d = spec.model.layers.first!, classes = spec.model.layers.last!
        let pool = Synthetic.classification(trainCount: 4 * b, testCount: 0, featureCount: d, classCount: classes, seed: seed).train
        Standardizer(fitting: pool).apply(to: pool)
        let batches = (0..<4).map { pool.features.rows(($0 * b)..<(($0 + 1) * b)) }
        let labels = pool.labels
        return labels.withUnsafeBufferPointer { all -> Double in
            func step(_ i: Int) {
                let k = i % 4
                trainer.trainStep(x: batches[k], labels: UnsafeBufferPointer(rebasing: all[(k * b)..<((k + 1) * b)]))
            }
            for i in 0..<warmupSteps { step(i) }
            let t0 = DispatchTime.now().uptimeNanoseconds
            for i in 0..<steps { step(i) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            return Double(steps * b) / seconds
        }
    }
}
