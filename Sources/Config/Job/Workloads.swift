import NN

/// The named recipes of issue 3, as whole job specs (single settings may then be overridden).
extension JobSpec {
    public static let workloadNames = ["W1", "W2", "W3", "W4"]

    /// W1 "fmnist-mlp": 784→256→128→10, ReLU, softmax cross-entropy, He init, inputs standardised with the
    /// training set's global mean and std, SGD momentum 0.9, lr 0.05 cosine-decayed to 0 over the run,
    /// batch 128, 10 epochs over the 60,000 training images.
    public static var w1: JobSpec {
        var j = JobSpec()
        j.workload = "W1"
        j.model.layers = [784, 256, 128, 10]
        j.model.activation = "relu"
        j.model.initializer = "he_normal"
        j.optimizer.name = "momentum"
        j.optimizer.lr = 0.05
        j.optimizer.momentum = 0.9
        j.schedule.name = "cosine"
        j.schedule.minLR = 0
        j.data.dataset = "fashion-mnist"
        j.data.standardize = true
        j.epochs = 10
        j.batchSize = 128
        return j
    }

    /// W2 "wide-mlp": 784→1024→1024→1024→10, SGD momentum 0.9, lr 0.05 (constant), batch 256; 200 steps
    /// (the benchmark adds 20 untimed warm-up steps before them).
    public static var w2: JobSpec {
        var j = JobSpec()
        j.workload = "W2"
        j.model.layers = [784, 1024, 1024, 1024, 10]
        j.model.activation = "relu"
        j.model.initializer = "he_normal"
        j.optimizer.name = "momentum"
        j.optimizer.lr = 0.05
        j.optimizer.momentum = 0.9
        j.schedule.name = "constant"
        j.data.dataset = "fashion-mnist"
        j.data.standardize = true
        j.batchSize = 256
        j.steps = 200
        return j
    }

    /// W3 "fmnist-cnn" (issue 17): input 1×28×28, conv 32 3×3 pad 1 → ReLU → max pool 2 → conv 64 3×3 pad 1 → ReLU →
    /// max pool 2 → flatten (64·7·7) → dense 128 → ReLU → dense 10; He init, standardised inputs, SGD momentum 0.9,
    /// lr 0.05 cosine-decayed to 0, batch 128, 10 epochs. About 4.24 M multiply-adds per example forward.
    public static var w3: JobSpec {
        var j = JobSpec()
        j.workload = "W3"
        j.model = ModelSpec(
            input: FeatureShape(channels: 1, height: 28, width: 28),
            stack: [
                .conv(ConvSpec(out: 32, kernel: 3, padding: 1)), .activation("relu"), .maxpool(PoolSpec(kernel: 2)),
                .conv(ConvSpec(out: 64, kernel: 3, padding: 1)), .activation("relu"), .maxpool(PoolSpec(kernel: 2)),
                .flatten, .dense(128), .activation("relu"), .dense(10),
            ])
        j.model.initializer = "he_normal"
        j.optimizer.name = "momentum"
        j.optimizer.lr = 0.05
        j.optimizer.momentum = 0.9
        j.schedule.name = "cosine"
        j.schedule.minLR = 0
        j.data.dataset = "fashion-mnist"
        j.data.standardize = true
        j.epochs = 10
        j.batchSize = 128
        return j
    }

    /// W4 "fmnist-mobile": depthwise-separable blocks as in MobileNet. Conv 16 3×3 pad 1 → ReLU, then two blocks of
    /// depthwise 3×3 stride 2 (groups = channels) → ReLU → pointwise 1×1 → ReLU (16→32 at 14×14, 32→64 at 7×7),
    /// flatten → dense 10. About 0.39 M multiply-adds per example forward (W3: 4.24 M); same optimiser as W3.
    public static var w4: JobSpec {
        var j = w3
        j.workload = "W4"
        j.model = ModelSpec(
            input: FeatureShape(channels: 1, height: 28, width: 28),
            stack: [
                .conv(ConvSpec(out: 16, kernel: 3, padding: 1)), .activation("relu"),
                .conv(ConvSpec(out: 16, kernel: 3, stride: 2, padding: 1, groups: 16)), .activation("relu"),
                .conv(ConvSpec(out: 32, kernel: 1)), .activation("relu"),
                .conv(ConvSpec(out: 32, kernel: 3, stride: 2, padding: 1, groups: 32)), .activation("relu"),
                .conv(ConvSpec(out: 64, kernel: 1)), .activation("relu"),
                .flatten, .dense(10),
            ])
        j.model.initializer = "he_normal"
        return j
    }

    /// The recipe called `name` (case-insensitive; also "fmnist-mlp", "wide-mlp", "fmnist-cnn", "fmnist-mobile"),
    /// or nil.
    public static func recipe(named name: String) -> JobSpec? {
        switch name.lowercased() {
        case "w1", "fmnist-mlp": return .w1
        case "w2", "wide-mlp": return .w2
        case "w3", "fmnist-cnn": return .w3
        case "w4", "fmnist-mobile": return .w4
        default: return nil
        }
    }
}
