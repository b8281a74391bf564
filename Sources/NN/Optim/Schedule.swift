import RealModule

/// Learning rate as a function of the optimizer step (0-based), PyTorch-style but stateless: rate(at:) is a pure
/// function, so a resumed checkpoint needs only the step count.
///
/// Linear warm-up (`warmupSteps` > 0) ramps base·(t+1)/warmup over the first steps; the decay then runs on the
/// steps after the warm-up.
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    public enum Decay: Sendable, Equatable, Codable {
        case constant
        /// × gamma every `every` steps (StepLR).
        case step(every: Int, gamma: Float)
        /// Half-cosine from base to `minimum` over `totalSteps` (including warm-up), then `minimum` (CosineAnnealingLR).
        case cosine(totalSteps: Int, minimum: Float)
    }

    public var base: Float
    public var decay: Decay
    public var warmupSteps: Int

    public init(base: Float, decay: Decay = .constant, warmupSteps: Int = 0) {
        self.base = base
        self.decay = decay
        self.warmupSteps = max(0, warmupSteps)
    }

    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        let t = step - warmupSteps
        switch decay {
        case .constant:
            return base
        case .step(let every, let gamma):
            return base * Float.pow(gamma, Float(t / max(every, 1)))
        case .cosine(let total, let minimum):
            let span = max(total - warmupSteps, 1)
            let progress = Double(min(t, span)) / Double(span)
            return minimum + (base - minimum) * Float((1 + Double.cos(Double.pi * progress)) / 2)
        }
    }
}
