import Config
import NN
import Tensors

/// A teacher model for `job.distillation`, run forward (inference mode) on each batch the student trains on.
/// Under data parallelism each worker runs it on its own rows, so no logits cross the network.
public final class DistillationTeacher {
    public let teacher: Sequential
    public let loss: DistillationLoss

    public init(teacher: Sequential, temperature: Float, alpha: Float) {
        self.teacher = teacher
        loss = DistillationLoss(temperature: temperature, alpha: alpha)
    }

    /// Loads `spec.teacher` (an fp32 or pruned model file) for `student`: its input and output widths must match
    /// the student's, or the error names the file and both shapes.
    public static func load(_ spec: DistillationSpec, student: Sequential) throws -> DistillationTeacher {
        let file = try ModelFile.load(spec.teacher)
        guard file.format != .int8 else {
            throw SafeTensorsError(file: spec.teacher, message: "an int8 model cannot teach: use its fp32 file")
        }
        let t = file.model
        guard t.inputFeatures == student.inputFeatures && t.outputFeatures == student.outputFeatures else {
            throw SafeTensorsError(
                file: spec.teacher,
                message:
                    "teacher maps \(t.inputFeatures) inputs to \(t.outputFeatures) outputs, the student \(student.inputFeatures) to \(student.outputFeatures)"
            )
        }
        t.threads = student.threads
        return DistillationTeacher(teacher: t, temperature: spec.temperature, alpha: spec.alpha)
    }

    /// The student's loss on these rows and its gradients (written into the student's gradient buffer).
    func lossAndGradients(
        student: Sequential, logits: Tensor, x: Tensor, labels: UnsafeBufferPointer<Int32>, normalizer: Int?
    ) -> (loss: Float, correct: Int) {
        let soft = teacher.forward(x, training: false)
        let l = loss.forward(student: logits, teacher: soft, labels: labels)
        let correct = correctPredictions(logits, labels: labels)
        student.backward(loss.backward(normalizer: normalizer))
        return (l, correct)
    }
}
