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
        let step = try communicator.broadcastInteger(newest?.step ?? -1, root: 0)
        guard step >= 0 else { return nil }
        if let newest { return try restore(newest, into: trainer) }
        do { return try restore(step: step, into: trainer) } catch {
            throw RuntimeError.invalid(
                "rank \(communicator.rank): \(error) (rank 0 resumes from step \(step): "
                    + "every host needs the checkpoint directory, e.g. on shared storage)")
        }
    }
}

extension Communicator {
    /// Broadcasts an integer exactly: as four 16-bit pieces, each exact in a Float (a step count sent as one Float
    /// rounds above 2²⁴).
    public func broadcastInteger(_ value: Int, root: Int) throws -> Int {
        try broadcastIntegers([value], root: root)[0]
    }

    /// Broadcasts integers exactly in one broadcast (one chain pass, however many): each as four 16-bit pieces.
    /// Every rank passes as many.
    public func broadcastIntegers(_ values: [Int], root: Int) throws -> [Int] {
        var pieces: [Float] = values.flatMap { value in
            let bits = UInt64(bitPattern: Int64(value))
            return (0..<4).map { Float((bits >> (16 * UInt64($0))) & 0xFFFF) }
        }
        try pieces.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
        return try stride(from: 0, to: pieces.count, by: 4).map { try integer(from: pieces[$0..<($0 + 4)]) }
    }

    /// The integer of four received 16-bit pieces, each checked.
    private func integer(from pieces: ArraySlice<Float>) throws -> Int {
        var out: UInt64 = 0
        for (i, p) in pieces.enumerated() {
            guard p >= 0, p <= 65535, p == p.rounded() else {
                throw RuntimeError.invalid("rank \(self.rank): a broadcast integer piece \(p) is not 16 bits")
            }
            out |= UInt64(p) << (16 * UInt64(i))
        }
        return Int(Int64(bitPattern: out))
    }
}
