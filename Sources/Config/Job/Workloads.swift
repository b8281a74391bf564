/// The named recipes of issue 3, as whole job specs (single settings may then be overridden).
extension JobSpec {
    public static let workloadNames = ["W1", "W2"]

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

    /// The recipe called `name` (case-insensitive; also "fmnist-mlp" and "wide-mlp"), or nil.
    public static func recipe(named name: String) -> JobSpec? {
        switch name.lowercased() {
        case "w1", "fmnist-mlp": return .w1
        case "w2", "wide-mlp": return .w2
        default: return nil
        }
    }
}
