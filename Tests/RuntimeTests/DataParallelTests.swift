import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Runtime
import Testing
import Training

/// A small job on synthetic data that trains in well under a second.
func smallJob(steps: Int, batch: Int = 32, layers: [Int] = [16, 24, 5]) -> JobSpec {
    var job = JobSpec()
    job.model.layers = layers
    job.model.activation = "tanh"
    job.data.dataset = "synthetic"
    job.batchSize = batch
    job.steps = steps
    job.seed = 7
    job.optimizer.name = "momentum"
    job.optimizer.lr = 0.05
    return job
}

func assignment(rank: Int, ranks: Int, job: JobSpec, run: RunOptions = RunOptions()) -> Assignment {
    Assignment(
        rank: rank, worldSize: ranks, peers: [], hosts: Array(repeating: "127.0.0.1", count: ranks),
        layout: RankLayout(dataParallel: ranks), job: job, parallelism: ParallelismSpec(),
        timeouts: TimeoutSpec(), checkpoint: nil, run: run)
}

@Suite(.timeLimit(.minutes(4)))
struct DataParallelTests {
    /// DP with R ranks (threads over inproc://) must equal one process on the same global batches: the loss is
    /// averaged over the global batch and the gradients summed, so only float summation order differs.
    @Test(arguments: [2, 3, 4])
    func dataParallelEqualsSingleProcess(ranks: Int) throws {
        let job = smallJob(steps: 20, batch: 30)
        let data = try job.loadData()
        let single = try TrainingLoop(job: job, data: data)
        try single.run()
        let reference = single.trainer.model.parameters.array

        let comms = try Communicator.local(size: ranks)
        var options = RunOptions()
        options.bucketBytes = 256  // several buckets, to exercise the overlap path
        let run = options
        let results = runRanks(comms) { comm in
            let w = try DataParallelWorker(
                assignment: assignment(rank: comm.rank, ranks: ranks, job: job, run: run),
                data: data, communicator: comm, control: nil)
            _ = try w.run()
            return w.trainer.model.parameters.array
        }
        let params = try results.map { try $0.get() }
        for p in params.dropFirst() { #expect(p == params[0], "replicas must be bitwise identical") }
        var worst: Float = 0
        for (a, b) in zip(params[0], reference) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        #expect(worst <= 1e-5, "DP vs single process: largest relative difference \(worst)")
        #expect(params[0] != Array(repeating: 0, count: params[0].count))
    }

    @Test(arguments: [1, 64, 1000, 1 << 20])
    func bucketsCoverTheGradientOnceInBackwardOrder(bucketBytes: Int) throws {
        let model = try smallJob(steps: 1, layers: [16, 24, 24, 5]).makeModel()
        let b = GradientBuckets(model: model, bucketBytes: bucketBytes, communicator: nil)
        defer { b.shutdown() }
        #expect(b.buckets.first?.upperBound == model.parameterCount)
        #expect(b.buckets.last?.lowerBound == 0)
        for (x, y) in zip(b.buckets, b.buckets.dropFirst()) { #expect(y.upperBound == x.lowerBound) }
        #expect(b.buckets.allSatisfy { !$0.isEmpty })
    }
}
