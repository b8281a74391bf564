import Tensors

/// A classification data set held in memory: features [N, D] (Float, row-major) and N integer labels.
public struct LabeledDataset: Sendable {
    public var name: String
    /// [count, featureCount]
    public var features: Tensor
    public var labels: [Int32]
    public var classCount: Int

    public init(name: String, features: Tensor, labels: [Int32], classCount: Int) {
        precondition(
            features.rank == 2 && features.rows == labels.count,
            "\(name): \(labels.count) labels for features \(features.shape)")
        self.name = name
        self.features = features
        self.labels = labels
        self.classCount = classCount
    }

    public var count: Int { labels.count }
    public var featureCount: Int { features.columns }

    /// A copy holding examples `indices`, in that order.
    public func subset(_ indices: [Int], name: String? = nil) -> LabeledDataset {
        let x = Tensor(shape: [indices.count, featureCount])
        var y = [Int32](repeating: 0, count: indices.count)
        y.withUnsafeMutableBufferPointer { gather(indices[...], into: x, labels: $0.baseAddress!) }
        return LabeledDataset(name: name ?? self.name, features: x, labels: y, classCount: classCount)
    }

    /// Copies examples `indices` into the first rows of `x` and `labels` (the batch buffers of a training loop).
    public func gather(_ indices: ArraySlice<Int>, into x: Tensor, labels out: UnsafeMutablePointer<Int32>) {
        let d = featureCount
        precondition(x.count >= indices.count * d, "gather: buffer \(x.shape) too small for \(indices.count) rows")
        let src = features.pointer
        let dst = x.pointer
        for (row, i) in indices.enumerated() {
            (dst + row * d).update(from: src + i * d, count: d)
            out[row] = labels[i]
        }
    }

    /// Splits off the last `validationFraction` of a seeded permutation as a validation set (the training part
    /// keeps the permutation's order of the rest, sorted back so it does not depend on the split seed's order).
    public func split(validationFraction: Double, seed: UInt64) -> (train: LabeledDataset, validation: LabeledDataset) {
        precondition(
            validationFraction >= 0 && validationFraction < 1, "validation fraction \(validationFraction) must be in [0, 1)")
        let validationCount = Int((Double(count) * validationFraction).rounded())
        let perm = seededPermutation(count: count, seed: seed)
        let train = perm[..<(count - validationCount)].sorted()
        let validation = perm[(count - validationCount)...].sorted()
        return (subset(train, name: name + "-train"), subset(validation, name: name + "-validation"))
    }
}

/// Standardisation with ONE global mean and standard deviation, measured on the training set and then applied
/// unchanged to validation and test data (so no test statistics leak into training).
public struct Standardizer: Codable, Sendable, Equatable {
    public var mean: Float
    public var std: Float

    public init(mean: Float, std: Float) {
        self.mean = mean
        self.std = std
    }

    /// Mean and (population) standard deviation over every feature value of `data`, accumulated in Double.
    public init(fitting data: LabeledDataset) {
        let p = data.features.pointer
        let n = data.features.count
        var s = 0.0
        var s2 = 0.0
        for i in 0..<n {
            let v = Double(p[i])
            s += v
            s2 += v * v
        }
        let m = n > 0 ? s / Double(n) : 0
        let variance = n > 0 ? max(s2 / Double(n) - m * m, 0) : 1
        mean = Float(m)
        std = Float(variance.squareRoot())
        if std < 1e-12 { std = 1 }
    }

    /// x ← (x − mean) / std, in place (the features tensor is shared, so every copy of `data` sees it).
    public func apply(to data: LabeledDataset) {
        let p = data.features.pointer
        let inv = 1 / std
        let m = mean
        for i in 0..<data.features.count { p[i] = (p[i] - m) * inv }
    }
}
