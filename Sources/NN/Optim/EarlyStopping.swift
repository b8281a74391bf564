import Tensors

/// Early stopping on validation loss (Keras' EarlyStopping with restore_best_weights): keep a copy of the
/// parameters at the best loss; stop once `patience` epochs in a row brought no improvement of more than `minDelta`;
/// `restoreBest` puts the best copy back.
public final class EarlyStopping {
    public let patience: Int
    public let minDelta: Float
    public private(set) var bestLoss = Float.infinity
    public private(set) var bestEpoch: Int?
    public private(set) var epochsWithoutImprovement = 0
    private var best: Tensor?

    public init(patience: Int, minDelta: Float = 0) {
        precondition(patience >= 0, "patience must be ≥ 0")
        self.patience = patience
        self.minDelta = minDelta
    }

    /// Records one epoch's validation loss; returns true when training should stop now.
    public func record(validationLoss: Float, epoch: Int, parameters: Tensor) -> Bool {
        if validationLoss < bestLoss - minDelta {
            bestLoss = validationLoss
            bestEpoch = epoch
            epochsWithoutImprovement = 0
            if best == nil || best!.count != parameters.count { best = Tensor(shape: [parameters.count]) }
            best!.pointer.update(from: parameters.pointer, count: parameters.count)
            return false
        }
        epochsWithoutImprovement += 1
        return epochsWithoutImprovement >= max(patience, 1)
    }

    /// Copies the best parameters back; false when nothing was recorded.
    @discardableResult
    public func restoreBest(into parameters: Tensor) -> Bool {
        guard let best, best.count == parameters.count else { return false }
        parameters.pointer.update(from: best.pointer, count: parameters.count)
        return true
    }
}
