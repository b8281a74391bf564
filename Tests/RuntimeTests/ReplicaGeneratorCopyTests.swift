import CohortTestSupport
import Collectives
import Datasets
import Foundation
import NN
import Parallel
import Testing
import Training

/// The state agreement of a new membership copies the dropout generators with the weights and optimizer slots:
/// a replica that was behind (or a joiner) continues the source's mask stream, not a fresh one from the seed.
@Suite(.timeLimit(.minutes(3)))
struct ReplicaGeneratorCopyTests {
    @Test func theSourcesDropoutStreamIsCopied() throws {
        let job = {
            var j = smallJob(steps: 3)
            j.model.dropout = 0.3
            return j
        }()
        let data = try job.loadData()
        let comms = try Communicator.local(size: 3)
        let results = runRanks(comms) { comm in
            // Rank 2 one step ahead: its weights and its dropout stream move on.
            let t = try trainedReplica(job, data: data, ahead: comm.rank == 2)
            let streams = { t.model.layers.compactMap { ($0 as? Dropout)?.rng.state } }
            let before = streams()
            let agreement = try agreeReplicaState(t, communicator: comm)
            return (before, streams(), agreement)
        }
        let values = try results.map { try $0.get() }
        let dropouts = values[0].0.count
        try #require(dropouts >= 1, "the model has no dropout layer")
        #expect(values[0].0 != values[2].0, "rank 2's extra step drew from its stream")
        for v in values { #expect(v.1 == values[2].0, "every replica holds rank 2's stream after the agreement") }
        let params = try TrainingLoop(job: job, data: data).trainer.model.parameters.count
        let a = values[0].2
        #expect(a.source == 2)
        #expect(a.bytesCopied == 2 * (2 * params * 4 + dropouts * 32), "weights, momentum and generators to two replicas")
    }
}
