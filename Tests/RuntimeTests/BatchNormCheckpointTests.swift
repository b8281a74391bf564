import Config
import Foundation
import NN
import Tensors
import Testing
import Training

/// BatchNorm's running statistics are model state: a checkpoint saves them beside the weights and a restore brings
/// them back (a resumed run evaluates as the saved one did).
@Suite struct BatchNormCheckpointTests {
    static let yaml = """
        job:
          seed: 5
          model:
            input: [1, 6, 6]
            layers:
              - {conv: {out: 3, kernel: 3, padding: 1}}
              - {batchnorm: {momentum: 0.2}}
              - {activation: relu}
              - {flatten: {}}
              - {dense: 8}
              - {batchnorm: {}}
              - {dense: 4}
        """

    @Test func runningStatisticsRoundTripThroughACheckpoint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cohort-bn-ckpt-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = try JobSpec.parse(yaml: Self.yaml, file: "bn.yaml")
        let model = try job.makeModel()
        #expect(model.layers.map(\.kind) == ["conv", "batchnorm", "relu", "flatten", "dense", "batchnorm", "dense"])
        #expect((model.layers[1] as? BatchNorm)?.momentum == 0.2 && model.buffers.count == 2 * 3 + 2 * 8)
        let trainer = Trainer(model: model, optimizer: Momentum(learningRate: 0.1), schedule: job.makeSchedule(totalSteps: 1))
        var rng = Xoshiro256(seed: 7)
        let x = Tensor(shape: [4, 36], values: (0..<144).map { _ in rng.nextUnitFloat() * 3 + 1 })
        let labels: [Int32] = [0, 1, 2, 3]
        labels.withUnsafeBufferPointer { _ = trainer.computeGradients(x: x, labels: $0) }
        let saved = model.buffers.array
        let evaluated = model.forward(x, training: false).array
        let checkpoints = TrainingCheckpoints(spec: CheckpointSpec(directory: dir.path))
        try checkpoints.save(trainer, epoch: 0, stepInEpoch: 1, seed: 5)

        let fresh = try job.makeModel()
        #expect(fresh.buffers.array != saved)
        let other = Trainer(model: fresh, optimizer: Momentum(learningRate: 0.1), schedule: job.makeSchedule(totalSteps: 1))
        _ = try checkpoints.restoreLatest(into: other)
        #expect(fresh.buffers.array == saved && fresh.parameters.array == model.parameters.array)
        #expect(fresh.forward(x, training: false).array == evaluated)
    }
}
