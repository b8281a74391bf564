/// The `distillation:` part of a job: train against a teacher's softened outputs as well as the labels
/// (Hinton et al. 2015). loss = α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − α)·CE.
public struct DistillationSpec: Codable, Sendable, Equatable {
    /// Model files with the student's input and output widths: fp32 (`cohort train --output`) or int8 (`cohort
    /// compress quantize`; the teacher's forward, most of a distilled step, then runs on the int8 GEMM). In YAML `teacher`
    /// takes one path or a list: a list teaches as an ensemble, whose softened outputs are the mean of its members'
    /// (Hinton et al. 2015 distil an ensemble the same way), a stronger teacher than any one member.
    public var teachers: [String]
    public var temperature: Float = 4
    public var alpha: Float = 0.9
    /// Function matching (Beyer et al. 2022, "a good teacher is patient and consistent"): each batch's rows are
    /// mixed pairwise, x' = λ·x + (1 − λ)·x_π with λ ~ Beta(m, m), and the teacher labels x' itself, so the student
    /// learns the teacher's function between the examples, not only at them. The hard-label term takes the mixed
    /// labels (λ·CE(y) + (1 − λ)·CE(y_π)), as mixup does. nil or 0: off.
    public var mixup: Float?
    /// Function matching's other half, an augmentation: each row (a square single-channel image) is translated by a
    /// random (dy, dx) of at most this many pixels, the border extended, before mixup; the teacher labels the
    /// translated image. nil or 0: off.
    public var shift: Int?

    public init(teacher: String, temperature: Float = 4, alpha: Float = 0.9, mixup: Float? = nil, shift: Int? = nil) {
        self.init(teachers: [teacher], temperature: temperature, alpha: alpha, mixup: mixup, shift: shift)
    }

    public init(
        teachers: [String], temperature: Float = 4, alpha: Float = 0.9, mixup: Float? = nil, shift: Int? = nil
    ) {
        self.teachers = teachers
        self.temperature = temperature
        self.alpha = alpha
        self.mixup = mixup
        self.shift = shift
    }

    enum CodingKeys: String, CodingKey { case teacher, temperature, alpha, mixup, shift }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let one = try? c.decode(String.self, forKey: .teacher) {
            teachers = [one]
        } else {
            teachers = try c.decode([String].self, forKey: .teacher)
        }
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? temperature
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha) ?? alpha
        mixup = try c.decodeIfPresent(Float.self, forKey: .mixup)
        shift = try c.decodeIfPresent(Int.self, forKey: .shift)
    }

    /// One teacher is written as a path, an ensemble as a list, as they are read.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if teachers.count == 1 { try c.encode(teachers[0], forKey: .teacher) } else { try c.encode(teachers, forKey: .teacher) }
        try c.encode(temperature, forKey: .temperature)
        try c.encode(alpha, forKey: .alpha)
        try c.encodeIfPresent(mixup, forKey: .mixup)
        try c.encodeIfPresent(shift, forKey: .shift)
    }

    func validate() throws {
        guard !teachers.isEmpty && teachers.allSatisfy({ !$0.isEmpty }) else {
            throw JobError("distillation.teacher", "must name a model file, or a list of them for an ensemble")
        }
        guard temperature > 0 && temperature.isFinite else {
            throw JobError("distillation.temperature", "must be a positive number, got \(temperature)")
        }
        guard alpha >= 0 && alpha <= 1 else { throw JobError("distillation.alpha", "must be in [0, 1], got \(alpha)") }
        if let mixup, !(mixup >= 0 && mixup <= 100) {
            throw JobError("distillation.mixup", "must be a Beta parameter in [0, 100] (0: off), got \(mixup)")
        }
        if let shift, !(0...16).contains(shift) {
            throw JobError("distillation.shift", "must be 0 to 16 pixels (0: off), got \(shift)")
        }
    }
}
