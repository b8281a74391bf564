import Config
import Foundation
import NN
import Tensors

/// A teacher model (or an ensemble of them) for `job.distillation`, run forward (inference mode) on each batch the
/// student trains on. Under data parallelism each worker runs it on its own rows, so no logits cross the network.
public final class DistillationTeacher {
    public let teachers: [Sequential]
    public let loss: DistillationLoss
    /// `distillation.mixup`: the Beta parameter of each batch's mixing weight; nil or 0 trains on the rows as they are.
    public let mixup: Float?
    /// `distillation.shift`: each row translated by up to this many pixels before the teacher and student see it.
    private var shifter: BatchShifter?
    private var rows: BatchMixer
    private let ensemble = ReusableBuffer()

    public convenience init(teacher: Sequential, temperature: Float, alpha: Float, mixup: Float? = nil, seed: UInt64 = 0) {
        self.init(teachers: [teacher], temperature: temperature, alpha: alpha, mixup: mixup, seed: seed)
    }

    /// `shift` > 0 needs square single-channel images: `imageSide` pixels a side (`load` checks the student's inputs).
    public init(
        teachers: [Sequential], temperature: Float, alpha: Float, mixup: Float? = nil, shift: Int = 0, imageSide: Int = 0,
        seed: UInt64 = 0
    ) {
        precondition(!teachers.isEmpty, "DistillationTeacher: no teacher")
        self.teachers = teachers
        loss = DistillationLoss(temperature: temperature, alpha: alpha)
        self.mixup = mixup.flatMap { $0 > 0 ? $0 : nil }
        shifter = shift > 0 && imageSide > 0 ? BatchShifter(side: imageSide, shift: shift, seed: seed) : nil
        rows = BatchMixer(seed: seed)
    }

    /// Loads `spec.teachers` (fp32 or pruned model files) for `student`: each one's input and output widths must
    /// match the student's, or the error names the file and both shapes.
    /// `spec.shift` needs the student's inputs to be a square image, or the error names the key and the width.
    public static func load(_ spec: DistillationSpec, student: Sequential) throws -> DistillationTeacher {
        let models = try spec.teachers.map { try loadTeacher($0, for: student) }
        let shift = spec.shift ?? 0
        let side = BatchShifter.side(ofSquare: student.inputFeatures) ?? 0
        if shift > 0 && side == 0 {
            throw JobError(
                "distillation.shift",
                "needs square single-channel images, but the model takes \(student.inputFeatures) inputs")
        }
        return DistillationTeacher(
            teachers: models, temperature: spec.temperature, alpha: spec.alpha, mixup: spec.mixup, shift: shift,
            imageSide: side)
    }

    private static func loadTeacher(_ path: String, for student: Sequential) throws -> Sequential {
        let t = try ModelFile.load(path).model
        guard t.inputFeatures == student.inputFeatures && t.outputFeatures == student.outputFeatures else {
            throw SafeTensorsError(
                file: path,
                message:
                    "teacher maps \(t.inputFeatures) inputs to \(t.outputFeatures) outputs, the student \(student.inputFeatures) to \(student.outputFeatures)"
            )
        }
        t.threads = student.threads
        return t
    }

    /// The teachers' logits on `input`; an ensemble's are `ensembleLogits` of its members', so that softmax(z/T)
    /// is the mean of the members' softened outputs.
    func teacherLogits(_ input: Tensor) -> Tensor {
        guard teachers.count > 1 else { return teachers[0].forward(input, training: false) }
        let members = teachers.map { $0.forward(input, training: false) }
        let out = ensemble.view(rows: input.rows, columns: members[0].columns)
        ensembleLogits(members, temperature: loss.temperature, into: out)
        return out
    }

    /// The student's forward and backward on these rows against the teacher (with `shift`, on the rows translated;
    /// with `mixup`, on the rows mixed pairwise; the teacher labels whatever the student sees); its gradients land in the student's gradient buffer. `correct`
    /// counts the student's predictions against `labels` (of the unmixed rows).
    func lossAndGradients(
        student: Sequential, x: Tensor, labels: UnsafeBufferPointer<Int32>, normalizer: Int?
    ) -> (loss: Float, correct: Int) {
        let moved = shifter?.shifted(x) ?? x
        let mixed = mixup.flatMap { rows.mix(moved, beta: $0) }
        let input = mixed?.x ?? moved
        let logits = student.forward(input, training: true)
        let soft = teacherLogits(input)
        let l: Float
        if let mixed {
            let partners = mixed.partner.map { labels[$0] }
            l = partners.withUnsafeBufferPointer {
                loss.forward(student: logits, teacher: soft, labels: labels, partnerLabels: $0, lambda: mixed.lambda)
            }
        } else {
            l = loss.forward(student: logits, teacher: soft, labels: labels)
        }
        let correct = correctPredictions(logits, labels: labels)
        student.backward(loss.backward(normalizer: normalizer))
        return (l, correct)
    }
}

/// Mixup's pairing of a batch's rows (Zhang et al. 2018): one weight λ ~ Beta(β, β) per batch and a random
/// permutation π, x'[r] = λ·x[r] + (1 − λ)·x[π(r)]. Seeded, so a run repeats exactly.
struct BatchMixer {
    private var rng: Xoshiro256
    private let buffer = ReusableBuffer()

    init(seed: UInt64) { rng = Xoshiro256(seed: seed ^ 0x6D69_7875_70) }

    /// The mixed rows (in a buffer of this mixer's), λ and π; nil for fewer than two rows.
    mutating func mix(_ x: Tensor, beta: Float) -> (x: Tensor, lambda: Float, partner: [Int])? {
        guard x.rows > 1 else { return nil }
        let lambda = sampleBeta(Double(beta))
        var partner = Array(0..<x.rows)
        for i in stride(from: partner.count - 1, to: 0, by: -1) {
            partner.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        let out = buffer.view(rows: x.rows, columns: x.columns)
        let c = x.columns
        let (a, b) = (Float(lambda), Float(1 - lambda))
        for r in 0..<x.rows {
            let (src, other, dst) = (x.pointer + r * c, x.pointer + partner[r] * c, out.pointer + r * c)
            for j in 0..<c { dst[j] = a * src[j] + b * other[j] }
        }
        return (out, Float(lambda), partner)
    }

    /// Beta(β, β) as G₁ / (G₁ + G₂) of two Gamma(β) draws.
    private mutating func sampleBeta(_ beta: Double) -> Double {
        let g1 = sampleGamma(beta)
        let g2 = sampleGamma(beta)
        return g1 + g2 > 0 ? g1 / (g1 + g2) : 0.5
    }

    /// Gamma(k, 1) by Marsaglia and Tsang (2000); k < 1 through Gamma(k + 1)·U^(1/k).
    private mutating func sampleGamma(_ k: Double) -> Double {
        if k < 1 { return sampleGamma(k + 1) * pow(unit(), 1 / k) }
        let d = k - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        while true {
            let z = rng.nextNormal()
            let v = pow(1 + c * z, 3)
            guard v > 0 else { continue }
            let u = unit()
            if log(u) < 0.5 * z * z + d - d * v + d * log(v) { return d * v }
        }
    }

    /// Uniform in (0, 1): zero is drawn again (log and the power of `sampleGamma` need it positive).
    private mutating func unit() -> Double {
        var u = rng.nextUnitDouble()
        while u <= 0 { u = rng.nextUnitDouble() }
        return u
    }
}
