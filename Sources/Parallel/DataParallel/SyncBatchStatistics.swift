import Collectives
import NN

/// Synchronised batch normalisation's reducer: sums each synchronised BatchNorm's per-channel statistics over the
/// data-parallel replicas with an all-reduce on the training thread. It runs on a sub-group of the same members
/// with its own tag, so its frames and sequence numbers stay apart from the gradient buckets' all-reduces, which a
/// communication thread runs at the same time during backward (a data plane serves sub-groups from several threads).
///
/// A layer cannot throw, so a failed reduction is kept here and the layer goes on with its local statistics; the
/// worker calls `check()` before the update, so the step fails with the collective's error and no replica applies
/// a step computed from mismatched statistics. After a failure the rest of the step's reductions are skipped
/// (each would wait out the deadline again).
final class SyncBatchStatistics: BatchStatisticsReducer {
    private let communicator: Communicator
    private var failure: Error?

    /// Installs a reducer on every synchronised BatchNorm of `model` (residual bodies included) when there is a
    /// communicator of more than one rank; nil when no layer asks for it. A model carried over from an earlier
    /// membership (elastic training) loses its old reducer first: alone, it normalises with its own batch.
    static func install(on model: Sequential, communicator: Communicator?) throws -> SyncBatchStatistics? {
        let layers = model.batchNormLayers.filter(\.synchronized)
        for layer in layers { layer.statisticsReducer = nil }
        guard !layers.isEmpty, let communicator, communicator.size > 1 else { return nil }
        guard let group = try communicator.subgroup(ranks: Array(0..<communicator.size), tag: 0x5B4E) else { return nil }
        let reducer = SyncBatchStatistics(communicator: group)
        for layer in layers { layer.statisticsReducer = reducer }
        return reducer
    }

    private init(communicator: Communicator) {
        self.communicator = communicator
    }

    func sumAcrossReplicas(_ values: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard failure == nil else { return false }
        do {
            try communicator.allReduce(values, op: .sum)
            return true
        } catch {
            failure = error
            return false
        }
    }

    /// Throws the first failed reduction of this step, and clears it.
    func check() throws {
        if let failure {
            self.failure = nil
            throw failure
        }
    }
}
