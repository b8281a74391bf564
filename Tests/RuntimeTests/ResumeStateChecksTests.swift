import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Testing
import Training

/// What a resume reads from outside is checked before it is used: the optimizer's moments must fit the model, and
/// the resume step crosses the ranks exactly however large it is.
@Suite struct ResumeStateChecksTests {
    @Test func momentsOfAnotherLengthAreRefusedNamingTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cohort-moments-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = smallSyntheticJob()
        let model = try job.makeModel()
        let trainer = Trainer(model: model, optimizer: Momentum(learningRate: 0.1), schedule: job.makeSchedule(totalSteps: 1))
        let checkpoints = TrainingCheckpoints(spec: CheckpointSpec(directory: dir.path))
        let short = CheckpointState(
            step: 3, epoch: 0, dataCursor: 3, rngState: [1], optimizerState: ["momentum": [1, 2, 3]],
            info: ["optimizer": "momentum", "optimizer_step": "3"])
        try checkpoints.store.save(
            layout: model.parameterLayout, flat: UnsafeBufferPointer(model.parameters.buffer), state: short)
        #expect {
            try checkpoints.restoreLatest(into: trainer)
        } throws: { error in
            "\(error)".contains("optimizer slot momentum has 3 values, the model \(model.parameters.count) parameters")
        }
    }

    @Test func aResumeStepBeyondFloatPrecisionIsBroadcastExactly() throws {
        let values = [-1, 0, 16_777_217, 1 << 40 | 12_345, Int.max, Int.min]
        let comms = try Communicator.local(size: 3)
        let results = runRanks(comms) { c -> [Int] in
            try values.map { v in try c.broadcastInteger(c.rank == 0 ? v : 7, root: 0) }
        }
        for r in results { #expect(try r.get() == values) }
    }
}
