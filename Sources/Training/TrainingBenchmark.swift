import Config
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

    public struct Result: Sendable {
        /// Wall-clock throughput: the benchmark's number.
        public var samplesPerSecond: Double
        /// Process CPU time / (wall time × threads) over the timed steps: well below 1 means other processes took
        /// the cores (or threads idled), so the wall-clock figure understates the code.
        public var cpuShare: Double
    }

    /// One run.
    public func run(seed: UInt64) throws -> Result {
        var spec = job
        spec.seed = seed
        let model = try spec.makeModel()
        model.threads = threads
        let optimizer = try spec.makeOptimizer()
        optimizer.threads = threads
        let trainer = Trainer(
            model: model, optimizer: optimizer,
            schedule: spec.makeSchedule(totalSteps: warmupSteps + steps),
            regularization: spec.makeRegularization())
        let b = spec.batchSize
        let d = spec.model.layers.first!
        let classes = spec.model.layers.last!
        let pool = Synthetic.classification(trainCount: 4 * b, testCount: 0, featureCount: d, classCount: classes, seed: seed)
            .train
        Standardizer(fitting: pool).apply(to: pool)
        let batches = (0..<4).map { pool.features.rows(($0 * b)..<(($0 + 1) * b)) }
        let labels = pool.labels
        return labels.withUnsafeBufferPointer { all -> Result in
            func step(_ i: Int) {
                let k = i % 4
                trainer.trainStep(x: batches[k], labels: UnsafeBufferPointer(rebasing: all[(k * b)..<((k + 1) * b)]))
            }
            for i in 0..<warmupSteps { step(i) }
            let c0 = processCPUSeconds()
            let t0 = DispatchTime.now().uptimeNanoseconds
            for i in 0..<steps { step(i) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let cpu = processCPUSeconds() - c0
            return Result(samplesPerSecond: Double(steps * b) / seconds, cpuShare: cpu / (seconds * Double(threads)))
        }
    }
}

/// CPU time of this process (all threads), in seconds.
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
