/// Sums per-channel batch statistics over the data-parallel replicas for synchronised batch normalisation
/// (PyTorch's `SyncBatchNorm`). NN never sees the transport: the data-parallel worker injects an implementation
/// that runs an all-reduce over its communicator.
///
/// Every replica calls `sumAcrossReplicas` the same number of times, in the same order, with the same count: once
/// per synchronised BatchNorm layer for the batch mean, once for the variance in forward, and once in backward.
public protocol BatchStatisticsReducer: AnyObject {
    /// Replaces `values` with their element-wise sum over all replicas. Returns false when the reduction failed
    /// (a peer gone, a deadline passed): the layer then goes on with its local values, and the owner of the reducer,
    /// which saw the error, fails the step before its update.
    func sumAcrossReplicas(_ values: UnsafeMutableBufferPointer<Float>) -> Bool
}

extension Sequential {
    /// Every BatchNorm of the model, including those inside residual bodies, in forward order.
    public var batchNormLayers: [BatchNorm] { collectBatchNorms(layers) }
}

private func collectBatchNorms(_ layers: [Layer]) -> [BatchNorm] {
    layers.flatMap { layer -> [BatchNorm] in
        if let bn = layer as? BatchNorm { return [bn] }
        if let r = layer as? Residual { return collectBatchNorms(r.body) }
        return []
    }
}
