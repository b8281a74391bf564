import RealModule
import Tensors

/// Fused softmax + cross-entropy on logits: loss = −(1/N) Σ_r log softmax(z_r)[y_r], and
/// ∂loss/∂z = (softmax(z) − onehot(y)) / N — one cheap, stable expression instead of the softmax Jacobian.
///
/// N is the batch size by default. A data-parallel rank passes the GLOBAL batch size as `normalizer`, so that the
/// sum of the ranks' gradients (the all-reduce) equals the single-process gradient of the whole global batch.
public final class SoftmaxCrossEntropy {
    private let probabilityBuffer = ReusableBuffer()
    private let gradientBuffer = ReusableBuffer()
    private var labels: UnsafeBufferPointer<Int32>?
    private var labelsCopy: [Int32] = []
    /// softmax(logits) of the last forward, [B, classes].
    public private(set) var probabilities = Tensor(shape: [0, 0])

    public init() {}

    /// logits [B, C], labels B class indices in 0..<C → mean loss over the batch (0 for an empty batch).
    /// `labels` must stay valid until `backward`.
    public func forward(logits: Tensor, labels: UnsafeBufferPointer<Int32>) -> Float {
        precondition(labels.count == logits.rows, "\(labels.count) labels for logits \(logits.shape)")
        let c = logits.columns
        probabilities = probabilityBuffer.view(rows: logits.rows, columns: c)
        softmaxRows(logits, into: probabilities)
        self.labels = labels
        var total: Double = 0
        for r in 0..<logits.rows {
            let y = Int(labels[r])
            precondition(y >= 0 && y < c, "label \(y) out of 0..<\(c)")
            // log softmax directly from the probability, floored to keep log finite.
            total -= Double(Float.log(Swift.max(probabilities[r * c + y], Float.leastNormalMagnitude)))
        }
        return logits.rows == 0 ? 0 : Float(total / Double(logits.rows))
    }

    /// Convenience for arrays (copies the labels).
    public func forward(logits: Tensor, labels: [Int32]) -> Float {
        labelsCopy = labels
        return labelsCopy.withUnsafeBufferPointer { forward(logits: logits, labels: $0) }
    }

    /// ∂loss/∂logits [B, C] for the last forward, averaged over `normalizer` examples (default: this batch).
    public func backward(normalizer: Int? = nil) -> Tensor {
        guard let labels else { preconditionFailure("SoftmaxCrossEntropy.backward before forward") }
        let rows = probabilities.rows
        let c = probabilities.columns
        let scale = 1 / Float(Swift.max(normalizer ?? rows, 1))
        let g = gradientBuffer.view(rows: rows, columns: c)
        let pp = probabilities.pointer
        let gp = g.pointer
        for i in 0..<(rows * c) { gp[i] = pp[i] * scale }
        for r in 0..<rows { gp[r * c + Int(labels[r])] -= scale }
        return g
    }
}

/// Cross-entropy on probabilities (the unfused pair's second half: `Softmax` then this): −(1/N) Σ log p[y].
/// Exists to check the fused loss against, and for models that already end in a softmax.
public final class CrossEntropy {
    private let gradientBuffer = ReusableBuffer()
    private var probabilities: Tensor?
    private var labels: [Int32] = []

    public init() {}

    public func forward(probabilities p: Tensor, labels: [Int32]) -> Float {
        precondition(labels.count == p.rows, "\(labels.count) labels for probabilities \(p.shape)")
        probabilities = p
        self.labels = labels
        var total: Double = 0
        for r in 0..<p.rows { total -= Double(Float.log(Swift.max(p[r, Int(labels[r])], Float.leastNormalMagnitude))) }
        return p.rows == 0 ? 0 : Float(total / Double(p.rows))
    }

    /// ∂loss/∂p: −1/(N·p[y]) at each label, 0 elsewhere.
    public func backward(normalizer: Int? = nil) -> Tensor {
        guard let p = probabilities else { preconditionFailure("CrossEntropy.backward before forward") }
        let n = Float(Swift.max(normalizer ?? p.rows, 1))
        let g = gradientBuffer.view(rows: p.rows, columns: p.columns)
        g.zero()
        for r in 0..<p.rows {
            let y = Int(labels[r])
            g[r, y] = -1 / (n * Swift.max(p[r, y], Float.leastNormalMagnitude))
        }
        return g
    }
}

/// Mean squared error over all elements: loss = (1/(N·D)) Σ (ŷ − y)², ∂loss/∂ŷ = 2(ŷ − y)/(N·D)
/// (PyTorch's `MSELoss(reduction='mean')`). `normalizer` replaces N as in `SoftmaxCrossEntropy`.
public final class MeanSquaredError {
    private let gradientBuffer = ReusableBuffer()
    private var prediction: Tensor?
    private var target: Tensor?

    public init() {}

    public func forward(prediction: Tensor, target: Tensor) -> Float {
        precondition(prediction.shape == target.shape, "MSE: prediction \(prediction.shape) vs target \(target.shape)")
        self.prediction = prediction
        self.target = target
        let p = prediction.pointer
        let t = target.pointer
        var total: Double = 0
        for i in 0..<prediction.count {
            let d = Double(p[i] - t[i])
            total += d * d
        }
        return prediction.count == 0 ? 0 : Float(total / Double(prediction.count))
    }

    public func backward(normalizer: Int? = nil) -> Tensor {
        guard let prediction, let target else { preconditionFailure("MeanSquaredError.backward before forward") }
        let n = Float(Swift.max((normalizer ?? prediction.rows) * prediction.columns, 1))
        let g = gradientBuffer.view(rows: prediction.rows, columns: prediction.columns)
        let p = prediction.pointer
        let t = target.pointer
        let gp = g.pointer
        let s = 2 / n
        for i in 0..<prediction.count { gp[i] = s * (p[i] - t[i]) }
        return g
    }
}

/// Row-wise argmax matches: how many rows of `scores` [B, C] have their maximum at the label.
public func correctPredictions(_ scores: Tensor, labels: UnsafeBufferPointer<Int32>) -> Int {
    let c = scores.columns
    var correct = 0
    for r in 0..<scores.rows {
        // The first index holding the row's maximum: a vector max, then a short scan (no dependent branch chain).
        let p = scores.pointer + r * c
        let m = maxElement(p, c)
        var best = 0
        while best < c - 1 && p[best] != m { best += 1 }
        if best == Int(labels[r]) { correct += 1 }
    }
    return correct
}
