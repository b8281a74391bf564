import CohortTestSupport
import Collectives
import Config
import Datasets
import Foundation
import Parallel
import Runtime
import Testing
import Training

/// A global batch that does not divide over the replicas (issue 14: a shrink from 4 to 3 workers gives 128 over 3):
/// rank r takes rows [⌊r·B/R⌋, ⌊(r+1)·B/R⌋), the loss is averaged over the global batch, so a step is the single
/// process's step whatever the split.
@Suite(.timeLimit(.minutes(4)))
struct UnevenBatchTests {
    /// R ranks as threads, then one process on the same job: the largest relative difference of the weights.
    static func distanceFromSingleProcess(_ job: JobSpec, ranks: Int) throws -> (replicasEqual: Bool, worst: Float) {
        let data = try job.loadData()
        let single = try TrainingLoop(job: job, data: data)
        try single.run()
        let reference = single.trainer.model.parameters.array
        let comms = try Communicator.local(size: ranks)
        var options = RunOptions()
        options.bucketBytes = 512
        let run = options
        let results = runRanks(comms) { comm in
            let w = try DataParallelWorker(
                assignment: assignment(rank: comm.rank, ranks: ranks, job: job, run: run),
                data: data, communicator: comm, control: nil)
            _ = try w.run()
            return w.trainer.model.parameters.array
        }
        let params = try results.map { try $0.get() }
        var worst: Float = 0
        for (a, b) in zip(params[0], reference) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        return (params.dropFirst().allSatisfy { $0 == params[0] }, worst)
    }

    /// The issue's case: 128 over 3 replicas (42, 43, 43 rows), Adam so that a wrongly weighted gradient would
    /// not hide behind a small learning rate.
    @Test func batch128OverThreeReplicasEqualsSingleProcess() throws {
        var job = smallJob(steps: 12, batch: 128)
        job.optimizer.name = "adam"
        job.optimizer.lr = 0.01
        job.data.maxTrainExamples = 2048
        let (equal, worst) = try Self.distanceFromSingleProcess(job, ranks: 3)
        #expect(equal, "replicas must be bitwise identical")
        #expect(worst <= 1e-5, "DP 128 over 3 vs single process: largest relative difference \(worst)")
    }

    /// An epoch whose last global batch (2 rows) is shorter than the replica count: rank 0 takes no row and still
    /// joins the all-reduce with a zero gradient; the step is still the single process's step on those 2 rows.
    @Test func lastBatchShorterThanTheReplicaCount() throws {
        var job = smallJob(steps: 9, batch: 64)
        job.data.maxTrainExamples = 130  // 64 + 64 + 2 per epoch
        #expect(EpochPlan.shardRows(batchSize: 2, rank: 0, ranks: 3).isEmpty)
        let (equal, worst) = try Self.distanceFromSingleProcess(job, ranks: 3)
        #expect(equal, "replicas must be bitwise identical")
        #expect(worst <= 1e-5, "short last batch over 3 ranks vs single process: largest relative difference \(worst)")
    }
}

/// `validate` accepts any global batch for data parallelism and still refuses what a pipeline cannot cut.
@Suite struct UnevenBatchConfigTests {
    static func config(workers: Int, batch: Int, stages: Int = 1, microBatches: Int = 1) -> String {
        """
        cluster:
          coordinator: {host: 127.0.0.1, port: 5555}
        hosts:
          - {address: 127.0.0.1, workers: \(workers)}
        job:
          data: {dataset: synthetic}
          model: {layers: [16, 8, 4]}
          batch_size: \(batch)
        parallelism: {pipeline_stages: \(stages), micro_batches: \(microBatches)}
        """
    }

    @Test func batch128OverThreeWorkersIsValid() throws {
        let config = try ClusterConfig.parse(Self.config(workers: 3, batch: 128), file: "cluster.yaml")
        #expect(config.validationIssues().isEmpty)
        #expect(config.summary().contains { $0.contains("global batch 128 (42–43 per replica)") })
        let even = try ClusterConfig.parse(Self.config(workers: 4, batch: 128), file: "cluster.yaml")
        #expect(even.summary().contains { $0.contains("global batch 128 (32 per replica)") })
    }

    @Test func pipelineReplicasStillNeedAnEvenSplit() {
        let text = Self.config(workers: 4, batch: 127, stages: 2)
        do {
            _ = try ClusterConfig.parse(text, file: "cluster.yaml")
            Issue.record("127 over 2 pipeline replicas must be refused")
        } catch {
            let line = ClusterConfigTests.line(of: "batch_size: 127", in: text)
            #expect(
                "\(error)"
                    == "cluster.yaml:\(line): job.batch_size: the global batch 127 does not split evenly over 2 data-parallel replicas of a pipeline"
            )
        }
    }
}
