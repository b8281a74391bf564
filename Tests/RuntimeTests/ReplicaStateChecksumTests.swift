import CohortTestSupport
import Config
import Foundation
import Parallel
import Testing
import Training

/// The agreement's checksum: equal for equal states, and apart when one bit of a weight, of a momentum value (the
/// word-wise lanes and the byte tail alike) or the step differs.
@Suite struct ReplicaStateChecksumTests {
    @Test func oneBitAnywhereChangesTheChecksum() throws {
        let job = smallJob(steps: 3, batch: 8, layers: [16, 24, 5])  // 16·24 + 24 + 24·5 + 5 = 533 values: a tail
        let loop = try TrainingLoop(job: job, data: try job.loadData())
        try loop.run()
        let trainer = loop.trainer
        let start = replicaStateChecksum(trainer)
        #expect(replicaStateChecksum(trainer) == start)
        let p = trainer.model.parameters.pointer
        for i in [0, 7, 300, trainer.model.parameterCount - 1] {
            let kept = p[i]
            p[i] = Float(bitPattern: kept.bitPattern ^ 1)
            #expect(replicaStateChecksum(trainer) != start, "weight \(i)")
            p[i] = kept
        }
        #expect(replicaStateChecksum(trainer) == start)
        var state = trainer.optimizer.state()
        let name = try #require(state.slots.keys.sorted().first, "momentum keeps a slot")
        let kept = state
        state.slots[name]?[trainer.model.parameterCount - 1] += 1
        try trainer.optimizer.load(state)
        #expect(replicaStateChecksum(trainer) != start, "slot \(name)")
        try trainer.optimizer.load(kept)
        #expect(replicaStateChecksum(trainer) == start)
        trainer.resume(atStep: trainer.step + 1)
        #expect(replicaStateChecksum(trainer) != start, "step")
    }
}
