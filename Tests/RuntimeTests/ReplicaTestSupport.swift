import Config
import Datasets
import Training

/// One replica of a state-agreement test: `job` trained from the start, then, when `ahead`, one more step on rows
/// 0..<8 alone, so that its weights, optimizer state, counters and dropout streams move on past its peers'.
func trainedReplica(_ job: JobSpec, data: JobData, ahead: Bool) throws -> Trainer {
    let loop = try TrainingLoop(job: job, data: data)
    try loop.run()
    let t = loop.trainer
    if ahead {
        let buffer = BatchBuffer(capacity: 8, featureCount: data.train.featureCount)
        let (xs, ys) = buffer.load(Array(0..<8)[...], from: data.train)
        _ = t.trainStep(x: xs, labels: ys)
    }
    return t
}
