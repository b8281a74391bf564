/// The `distillation:` part of a job: train against a teacher's softened outputs as well as the labels
/// (Hinton et al. 2015). loss = α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − α)·CE.
public struct DistillationSpec: Codable, Sendable, Equatable {
    /// An fp32 model file (`cohort train --output`) with the student's input and output widths.
    public var teacher: String
    public var temperature: Float = 4
    public var alpha: Float = 0.9

    public init(teacher: String, temperature: Float = 4, alpha: Float = 0.9) {
        self.teacher = teacher
        self.temperature = temperature
        self.alpha = alpha
    }

    enum CodingKeys: String, CodingKey { case teacher, temperature, alpha }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        teacher = try c.decode(String.self, forKey: .teacher)
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? temperature
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha) ?? alpha
    }

    func validate() throws {
        guard !teacher.isEmpty else { throw JobError("distillation.teacher", "must name a model file") }
        guard temperature > 0 && temperature.isFinite else {
            throw JobError("distillation.temperature", "must be a positive number, got \(temperature)")
        }
        guard alpha >= 0 && alpha <= 1 else { throw JobError("distillation.alpha", "must be in [0, 1], got \(alpha)") }
    }
}
