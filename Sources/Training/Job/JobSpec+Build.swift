import Config
import NN
import Tensors

/// Turning a job spec into the NN objects that train it. Every unknown name or impossible value is a `JobError`
/// naming its key.
extension JobSpec {
    /// `on_divergence` (validated: `stop` when unreadable).
    public var divergencePolicy: DivergencePolicy { DivergencePolicy(rawValue: onDivergence) ?? .stop }

    /// The model, initialised from `seed`.
    public func makeModel() throws -> Sequential {
        try validate()
        let model: Sequential
        if self.model.stack == nil {
            model = Sequential(
                mlp: self.model.layers, activation: Activation(rawValue: self.model.activation)!,
                dropout: self.model.dropout, dropoutSeed: seed &+ 0xD80)
        } else {
            model = Sequential(try makeLayers(self.model.layerSpecs), inputFeatures: self.model.layers[0])
        }
        model.initialize(Initializer(name: self.model.initializer)!, seed: seed)
        return model
    }

    /// The layers of a layer list, each built for the shape reaching it (`ModelSpec.shapeWalk`). The k-th dropout
    /// layer draws its mask from the same stream as the width form's k-th, so both forms of one model train
    /// identically.
    private func makeLayers(_ specs: [LayerSpec]) throws -> [Layer] {
        let shapes = try self.model.shapeWalk().inputs
        var dropouts = 0
        return try zip(specs, shapes).map { spec, shape in try makeLayer(spec, shape, dropouts: &dropouts) }
    }

    private func makeLayer(_ spec: LayerSpec, _ shape: FeatureShape, dropouts: inout Int) throws -> Layer {
        switch spec {
        case .dense(let n): return Dense(shape.count, n)
        case .activation(let name): return (Activation(rawValue: name) ?? .relu).makeLayer()
        case .dropout(let p):
            defer { dropouts += 1 }
            return Dropout(p, seed: SplitMix64.derive(seed &+ 0xD80, UInt64(dropouts)))
        case .conv(let c):
            return Conv2D(
                input: shape, outChannels: c.out, kernel: c.kernel, stride: c.stride, padding: c.padding, groups: c.groups)
        case .maxpool(let p): return MaxPool2D(input: shape, kernel: p.kernel, stride: p.stride)
        case .avgpool(let p): return AvgPool2D(input: shape, kernel: p.kernel, stride: p.stride)
        case .globalavgpool: return GlobalAvgPool(input: shape)
        case .flatten: return Flatten()
        case .layernorm(let n): return LayerNorm(features: shape.count, eps: n.eps)
        case .batchnorm(let n):
            return BatchNorm(shape: shape, momentum: n.momentum ?? 0.1, eps: n.eps, synchronized: n.sync ?? false)
        case .residual(let specs):
            let inputs = try ModelSpec.walk(specs, at: "model.layers", input: shape).inputs
            let body = try zip(specs, inputs).map { s, i in try makeLayer(s, i, dropouts: &dropouts) }
            return Residual(body, features: shape.count)
        }
    }

    /// The schedule over a run of `totalSteps` optimizer steps (cosine decays to min_lr at the last one).
    public func makeSchedule(totalSteps: Int) -> LearningRateSchedule {
        let decay: LearningRateSchedule.Decay
        switch schedule.name {
        case "step": decay = .step(every: schedule.stepSize, gamma: schedule.gamma)
        case "cosine": decay = .cosine(totalSteps: totalSteps, minimum: schedule.minLR)
        default: decay = .constant
        }
        return LearningRateSchedule(base: optimizer.lr, decay: decay, warmupSteps: schedule.warmupSteps)
    }

    public func makeRegularization() -> Regularization {
        Regularization(l1: regularization.l1, l2: regularization.l2, clipNorm: regularization.clipNorm)
    }
}
