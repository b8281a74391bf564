import Tensors

/// Seeded synthetic classification sets (tests, benchmarks, and the fallback when a data set is missing).
public enum Synthetic {
    /// Gaussian class clusters: `classCount` prototypes drawn N(0, 1) in `featureCount` dimensions (from the seed),
    /// and every example = its class's prototype · `separation` + N(0, 1) noise. Learnable but not trivially
    /// (the overlap grows as `separation` shrinks). Train and test share the prototypes and use disjoint noise.
    /// The default shape is Fashion-MNIST's (784 features, 10 classes), so the W1/W2 models apply unchanged.
    public static func classification(
        trainCount: Int, testCount: Int, featureCount: Int = 784, classCount: Int = 10,
        separation: Float = 0.15, seed: UInt64
    ) -> (train: LabeledDataset, test: LabeledDataset) {
        var protoRNG = SplitMix64(seed: seed ^ 0x5EED_0F_C1A5_5E5)
        let prototypes = Tensor(shape: [classCount, featureCount])
        for i in 0..<prototypes.count { prototypes[i] = Float(protoRNG.nextNormal()) * separation }
        func make(_ n: Int, stream: UInt64, name: String) -> LabeledDataset {
            var rng = SplitMix64(seed: seed &+ stream &* 0x9E37_79B9_7F4A_7C15)
            let x = Tensor(shape: [n, featureCount])
            var y = [Int32](repeating: 0, count: n)
            for r in 0..<n {
                let c = rng.next(below: classCount)
                y[r] = Int32(c)
                let row = x.pointer + r * featureCount
                let proto = prototypes.pointer + c * featureCount
                for j in 0..<featureCount { row[j] = proto[j] + Float(rng.nextNormal()) }
            }
            return LabeledDataset(name: name, features: x, labels: y, classCount: classCount)
        }
        return (make(trainCount, stream: 1, name: "synthetic-train"), make(testCount, stream: 2, name: "synthetic-test"))
    }
}
