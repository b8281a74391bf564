import Collectives
import Config
import Foundation
import Training

/// Checkpoints of a pipeline: each stage saves its own slice of the model (weights and optimizer state) in a
/// directory of its own, `DIR/stage-S`, written by replica 0 of that stage (its replicas' weights are identical).
/// A stage killed between two saves leaves the stages one checkpoint apart, so a resumed pipeline starts from the
/// newest step that EVERY stage holds valid, agreed along the pipeline before anyone loads.
extension PipelineStageWorker {
    /// The most checkpoint steps per stage considered when agreeing (newest first); older ones are pruned anyway.
    static let agreedStepWindow = 32

    func stageCheckpointSpec(_ spec: CheckpointSpec) -> CheckpointSpec {
        var s = spec
        s.directory = (spec.directory as NSString).appendingPathComponent("stage-\(stage)")
        return s
    }

    /// Loads the newest checkpoint step valid on every stage of this replica (the same step on every replica:
    /// replica 0's choice is broadcast within each stage's data-parallel group). Nil when no stage has any; an
    /// error when the stages have checkpoints but none in common, rather than silently starting over.
    func restoreCommonCheckpoint(_ checkpoints: TrainingCheckpoints) throws -> ResumePoint? {
        let mine = Array(checkpoints.store.validSteps().prefix(Self.agreedStepWindow))
        // Up the pipeline: [whether any stage so far has a checkpoint] + the steps valid on all of them (−1 pads).
        var common = mine.map(Int64.init)
        var any = !mine.isEmpty
        var up = [Int64](repeating: -1, count: Self.agreedStepWindow + 1)
        if let previous {
            try up.withUnsafeMutableBytes { try comm!.receive(into: $0, from: previous) }
            let before = Set(up.dropFirst().filter { $0 >= 0 })
            common = common.filter(before.contains)
            any = any || up[0] != 0
        }
        up = [any ? 1 : 0] + common + Array(repeating: -1, count: Self.agreedStepWindow - common.count)
        // The last stage decides (the newest common step) and the answer comes back down: [step or −1, any].
        var answer: [Int64] = [common.max() ?? -1, any ? 1 : 0]
        if let next {
            try up.withUnsafeBytes { try comm!.send($0, to: next) }
            try answer.withUnsafeMutableBytes { try comm!.receive(into: $0, from: next) }
        }
        if let previous { try answer.withUnsafeBytes { try comm!.send($0, to: previous) } }
        if let group = dataParallelGroup {
            var replica0 = answer.map { Float($0) }  // exact: steps stay far below 2²⁴
            try replica0.withUnsafeMutableBufferPointer { try group.broadcast($0, root: 0) }
            answer = replica0.map { Int64($0) }
        }
        guard answer[0] >= 0 else {
            if answer[1] != 0 {
                throw RuntimeError.invalid(
                    "checkpoint: the pipeline's stages hold no valid checkpoint of a common step "
                        + "(stage \(stage) has steps \(mine) in \(checkpoints.store.directory)); cannot resume")
            }
            return nil
        }
        return try checkpoints.restore(step: Int(answer[0]), into: trainer)
    }
}
