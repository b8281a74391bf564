import RealModule
import Tensors

/// Knowledge distillation (Hinton et al. 2015), fused on the student's logits z_s with the teacher's z_t:
///   loss = α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − α)·CE(softmax(z_s), y), averaged over N rows,
///   ∂loss/∂z_s = [α·T·(softmax(z_s/T) − softmax(z_t/T)) + (1 − α)·(softmax(z_s) − onehot(y))] / N.
/// The T² keeps the soft term's gradient scale independent of T, as in the paper. `normalizer` replaces N as in
/// `SoftmaxCrossEntropy` (a data-parallel rank passes the global batch, and runs the teacher on its own rows).
public final class DistillationLoss {
    public let temperature: Float
    public let alpha: Float
    private let gradientBuffer = ReusableBuffer()
    private var gradientSum: [Float] = []
    private var rows = 0, columns = 0

    public init(temperature: Float, alpha: Float) {
        precondition(temperature > 0 && alpha >= 0 && alpha <= 1, "DistillationLoss: T > 0 and α in [0, 1]")
        self.temperature = temperature
        self.alpha = alpha
    }

    /// Mean loss over the batch; keeps the summed gradient for `backward`.
    public func forward(student: Tensor, teacher: Tensor, labels: UnsafeBufferPointer<Int32>) -> Float {
        precondition(student.shape == teacher.shape && labels.count == student.rows, "DistillationLoss: shapes")
        rows = student.rows
        columns = student.columns
        let r = distillationLoss(
            student: Array(student.buffer), teacher: Array(teacher.buffer), labels: Array(labels), classes: columns,
            temperature: temperature, alpha: alpha)
        gradientSum = r.gradientSum
        return rows == 0 ? 0 : r.lossSum / Float(rows)
    }

    /// Mixup's loss: for rows mixed with weight λ against partners labelled `partnerLabels`, the hard term is
    /// λ·CE(y) + (1 − λ)·CE(y_π). The soft term does not depend on the labels, so the whole loss (and gradient) is
    /// λ·loss(y) + (1 − λ)·loss(y_π) exactly.
    public func forward(
        student: Tensor, teacher: Tensor, labels: UnsafeBufferPointer<Int32>, partnerLabels: UnsafeBufferPointer<Int32>,
        lambda: Float
    ) -> Float {
        precondition(partnerLabels.count == labels.count, "DistillationLoss: partner labels")
        let own = forward(student: student, teacher: teacher, labels: labels)
        let ownGradient = gradientSum
        let other = forward(student: student, teacher: teacher, labels: partnerLabels)
        for i in gradientSum.indices { gradientSum[i] = lambda * ownGradient[i] + (1 - lambda) * gradientSum[i] }
        return lambda * own + (1 - lambda) * other
    }

    public func backward(normalizer: Int? = nil) -> Tensor {
        let g = gradientBuffer.view(rows: rows, columns: columns)
        let scale = 1 / Float(max(normalizer ?? rows, 1))
        for i in 0..<(rows * columns) { g.pointer[i] = gradientSum[i] * scale }
        return g
    }
}

/// The loss and its gradient summed over rows (not yet averaged), in any precision: Float at run time, Double for
/// the finite-difference check. Softmaxes subtract the row maximum; log p is computed as (z − max) − log Σ e^…
public func distillationLoss<T: Real & BinaryFloatingPoint>(
    student: [T], teacher: [T], labels: [Int32], classes c: Int, temperature: T, alpha: T
) -> (lossSum: T, gradientSum: [T]) {
    var loss: T = 0
    var grad = [T](repeating: 0, count: student.count)
    for r in 0..<labels.count {
        let zs = Array(student[(r * c)..<(r * c + c)])
        let zt = Array(teacher[(r * c)..<(r * c + c)])
        let (ls, ps) = logSoftmax(zs, scale: 1)
        let (lsT, psT) = logSoftmax(zs, scale: 1 / temperature)
        let (ltT, ptT) = logSoftmax(zt, scale: 1 / temperature)
        let y = Int(labels[r])
        var kl: T = 0
        for j in 0..<c where ptT[j] > 0 { kl += ptT[j] * (ltT[j] - lsT[j]) }
        loss += alpha * temperature * temperature * kl - (1 - alpha) * ls[y]
        for j in 0..<c {
            let hard = ps[j] - (j == y ? 1 : 0)
            grad[r * c + j] = alpha * temperature * (psT[j] - ptT[j]) + (1 - alpha) * hard
        }
    }
    return (loss, grad)
}

/// log softmax(scale·z) and softmax(scale·z) of one row.
private func logSoftmax<T: Real & BinaryFloatingPoint>(_ z: [T], scale: T) -> (log: [T], p: [T]) {
    let s = z.map { $0 * scale }
    let m = s.max() ?? 0
    let sum = s.reduce(T(0)) { $0 + T.exp($1 - m) }
    let logSum = T.log(sum)
    let log = s.map { $0 - m - logSum }
    return (log, log.map { T.exp($0) })
}
