import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Testing
import Training

/// The replicas' agreement copies BatchNorm's running statistics with the weights (as DDP's broadcast_buffers):
/// a joiner, whose statistics are fresh, evaluates with the source's afterwards, not with mean 0 and variance 1.
@Suite(.timeLimit(.minutes(3)))
struct ReplicaBufferCopyTests {
    @Test func aJoinerTakesTheSourcesRunningStatistics() throws {
        let job = try SyncBatchNormTrainingTests.job(sync: false)
        let data = try job.loadData()
        let comms = try Communicator.local(size: 3)
        let results = runRanks(comms) { comm in
            // Ranks 0 and 1 trained (one of them a step further); rank 2 a joiner with a fresh model.
            let t =
                comm.rank == 2
                ? try TrainingLoop(job: job, data: data).trainer : try trainedReplica(job, data: data, ahead: comm.rank == 1)
            let before = t.model.buffers.array
            let agreement = try agreeReplicaState(t, communicator: comm)
            return (before, t.model.buffers.array, agreement)
        }
        let values = try results.map { try $0.get() }
        let (fresh, source) = (values[2].0, values[1].0)
        try #require(!fresh.isEmpty, "the model has no BatchNorm buffers")
        #expect(fresh != source, "training moved the source's running statistics")
        for v in values { #expect(v.1 == source, "every replica holds rank 1's statistics after the agreement") }
        #expect(values[0].2.source == 1)
        let a = values[0].2
        let params = try TrainingLoop(job: job, data: data).trainer.model.parameters.count
        #expect(a.bytesCopied == 2 * ((2 * params + fresh.count) * 4), "weights, momentum and buffers to two replicas")
    }
}
