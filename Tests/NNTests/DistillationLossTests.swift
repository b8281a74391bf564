import NN
import Tensors
import Testing

@Suite struct DistillationLossTests {
    /// The fused gradient against central finite differences of the loss, all in Float64, at several T and α.
    @Test(arguments: [(1.0, 0.5), (4.0, 0.9), (20.0, 0.3), (2.0, 1.0), (3.0, 0.0)])
    func gradientMatchesFiniteDifferences(t: Double, alpha: Double) {
        var rng = Xoshiro256(seed: 11)
        let (rows, c) = (5, 7)
        let student = (0..<(rows * c)).map { _ in Double(rng.nextUnitFloat()) * 6 - 3 }
        let teacher = (0..<(rows * c)).map { _ in Double(rng.nextUnitFloat()) * 8 - 4 }
        let labels = (0..<rows).map { Int32($0 * 3 % c) }
        let (_, grad) = distillationLoss(
            student: student, teacher: teacher, labels: labels, classes: c, temperature: t, alpha: alpha)
        let h = 1e-6
        var worst = 0.0
        for i in 0..<student.count {
            var up = student
            var down = student
            up[i] += h
            down[i] -= h
            let lu = distillationLoss(student: up, teacher: teacher, labels: labels, classes: c, temperature: t, alpha: alpha)
                .lossSum
            let ld = distillationLoss(student: down, teacher: teacher, labels: labels, classes: c, temperature: t, alpha: alpha)
                .lossSum
            worst = max(worst, abs((lu - ld) / (2 * h) - grad[i]))
        }
        #expect(worst < 1e-6, "T=\(t) α=\(alpha): largest difference \(worst)")
    }

    /// α = 0 is plain cross-entropy; a student equal to its teacher has no soft loss (KL = 0).
    @Test func limits() {
        let logits = Tensor(shape: [2, 3], values: [1, 2, 0.5, -1, 0, 3])
        let labels: [Int32] = [1, 2]
        let ce = SoftmaxCrossEntropy().forward(logits: logits, labels: labels)
        let hard = labels.withUnsafeBufferPointer {
            DistillationLoss(temperature: 3, alpha: 0).forward(student: logits, teacher: logits, labels: $0)
        }
        #expect(abs(hard - ce) < 1e-6)
        let soft = labels.withUnsafeBufferPointer {
            DistillationLoss(temperature: 3, alpha: 1).forward(student: logits, teacher: logits, labels: $0)
        }
        #expect(abs(soft) < 1e-6)
    }
}
