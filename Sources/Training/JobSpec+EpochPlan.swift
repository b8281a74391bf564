import Config
import Datasets

extension JobSpec {
    /// The job's sampling over `exampleCount` training examples split over `ranks` replicas: its global batch,
    /// seed and drop-last, which every trainer, worker and report derives the same way.
    public func epochPlan(exampleCount: Int, ranks: Int = 1) -> EpochPlan {
        EpochPlan(exampleCount: exampleCount, globalBatchSize: batchSize, ranks: ranks, seed: seed, dropLast: data.dropLast)
    }
}
