import NN

/// A job spec's own checks (names, ranges: every unknown name or impossible value is a `JobError` naming its key),
/// here with the schema so that `ClusterConfig.validationIssues()` can run them; Training builds the job.
extension JobSpec {
    /// Checks the settings that do not depend on data.
    public func validate() throws {
        try validateModel()
        guard (0..<1).contains(model.dropout) else { throw JobError("model.dropout", "must be in [0, 1), got \(model.dropout)") }
        guard optimizer.lr.isFinite && optimizer.lr > 0 else {
            throw JobError("optimizer.lr", "must be positive, got \(optimizer.lr)")
        }
        do { _ = try makeOptimizer() } catch let e as OptimizerError { throw JobError("optimizer.name", e.description) }
        guard ["constant", "step", "cosine"].contains(schedule.name) else {
            throw JobError("schedule.name", "expected one of constant, step, cosine, got \"\(schedule.name)\"")
        }
        guard schedule.warmupSteps >= 0 else { throw JobError("schedule.warmup_steps", "must be ≥ 0") }
        guard schedule.stepSize >= 1 else { throw JobError("schedule.step_size", "must be ≥ 1") }
        guard regularization.l1 >= 0, regularization.l2 >= 0 else { throw JobError("regularization", "l1 and l2 must be ≥ 0") }
        if let c = regularization.clipNorm, !(c > 0) { throw JobError("regularization.clip_norm", "must be positive, got \(c)") }
        guard epochs >= 1 else { throw JobError("epochs", "must be at least 1, got \(epochs)") }
        if let steps, steps < 1 { throw JobError("steps", "must be at least 1, got \(steps)") }
        guard DivergencePolicy(rawValue: onDivergence) != nil else {
            throw JobError(
                "on_divergence",
                "expected one of \(DivergencePolicy.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(onDivergence)\"")
        }
        guard batchSize >= 1 else { throw JobError("batch_size", "must be at least 1, got \(batchSize)") }
        try distillation?.validate()
        try compression?.validate()
        guard (0..<1).contains(data.validationFraction) else {
            throw JobError("data.validation_fraction", "must be in [0, 1), got \(data.validationFraction)")
        }
        if let n = data.maxTrainExamples, n < 1 { throw JobError("data.max_train_examples", "must be at least 1, got \(n)") }
        if let n = data.maxTestExamples, n < 1 { throw JobError("data.max_test_examples", "must be at least 1, got \(n)") }
        if let p = earlyStoppingPatience {
            guard p >= 1 else { throw JobError("early_stopping_patience", "must be at least 1, got \(p)") }
            guard data.validationFraction > 0 else {
                throw JobError("early_stopping_patience", "needs a validation set: set data.validation_fraction > 0")
            }
        }
    }

    /// The optimizer the spec names (validation builds one to check the name and its settings).
    public func makeOptimizer() throws -> Optimizer {
        try NN.makeOptimizer(
            name: optimizer.name, learningRate: optimizer.lr, momentum: optimizer.momentum,
            beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.eps,
            weightDecay: optimizer.weightDecay)
    }

    /// The model section: widths or a layer list whose shapes walk through, known activations and initialiser.
    func validateModel() throws {
        guard model.layers.count >= 2, model.layers.allSatisfy({ $0 >= 1 }) else {
            throw JobError("model.layers", "needs at least an input and an output width, each ≥ 1, got \(model.layers)")
        }
        if model.stack != nil, model.activation != ModelSpec().activation || model.dropout != ModelSpec().dropout {
            throw JobError("model.activation", "a layer list sets activations and dropout per layer, not for the whole model")
        }
        if model.stack != nil, !model.layerSpecs.contains(where: \.hasParameters) {
            throw JobError("model.layers", "a layer list needs at least one dense or conv layer")
        }
        for (i, spec) in (model.stack ?? []).enumerated() {
            switch spec {
            case .dense(let n) where n < 1: throw JobError("model.layers[\(i)].dense", "must be ≥ 1, got \(n)")
            case .activation(let name) where Activation(rawValue: name) == nil:
                throw JobError(
                    "model.layers[\(i)].activation",
                    "expected one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(name)\"")
            case .dropout(let p) where !(0..<1).contains(p):
                throw JobError("model.layers[\(i)].dropout", "must be in [0, 1), got \(p)")
            default: continue
            }
        }
        if model.stack != nil { _ = try model.shapeWalk() }
        guard Activation(rawValue: model.activation) != nil else {
            throw JobError(
                "model.activation",
                "expected one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(model.activation)\"")
        }
        guard Initializer(name: model.initializer) != nil else {
            throw JobError(
                "model.init", "expected one of \(Initializer.names.joined(separator: ", ")), got \"\(model.initializer)\"")
        }
    }
}
