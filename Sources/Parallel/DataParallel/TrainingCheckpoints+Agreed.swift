import Collectives
import Foundation
import Training

extension TrainingCheckpoints {
    /// Data parallelism: every rank resumes from the step that rank 0 finds newest, each from its own copy of the
    /// directory (shared storage, or one copy per host). A rank whose copy lacks that step fails naming it and the
    /// step, instead of loading another step's optimizer moments (the weights would be re-broadcast from rank 0;
    /// the moments would not, and the replicas would drift apart). Nil when rank 0 has no checkpoint.
    public func restoreAgreed(with communicator: Communicator?, into trainer: Trainer) throws -> ResumePoint? {
        guard let communicator, communicator.size > 1 else { return try restoreLatest(into: trainer) }
        let newest = communicator.rank == 0 ? store.latestValid() : nil
        var step: [Float] = [Float(newest?.step ?? -1)]  // exact below 2²⁴ steps
        try step.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
        guard step[0] >= 0 else { return nil }
        if let newest { return try restore(newest, into: trainer) }
        do { return try restore(step: Int(step[0]), into: trainer) } catch {
            throw RuntimeError.invalid(
                "rank \(communicator.rank): \(error) (rank 0 resumes from step \(Int(step[0])): "
                    + "every host needs the checkpoint directory, e.g. on shared storage)")
        }
    }
}
