import Datasets
import Tensors
import Testing

@Suite struct SamplingTests {
    /// For R = 1…5 (and batch sizes that do and do not divide N), one epoch's shards are disjoint, cover every
    /// example exactly once, all ranks run the same number of steps, and the same seed gives the same shards.
    @Test(arguments: 1...5)
    func shardsCoverEveryExampleOnce(ranks: Int) {
        for (n, batch) in [(103, 10), (100, 20), (7, 8), (64, 7)] {
            let plan = EpochPlan(exampleCount: n, globalBatchSize: batch, ranks: ranks, seed: 42)
            for epoch in 0..<2 {
                let shards = (0..<ranks).map { plan.shard(epoch: epoch, rank: $0) }
                let all = shards.flatMap { $0 }
                #expect(all.count == n, "n=\(n) b=\(batch) R=\(ranks)")
                #expect(Set(all) == Set(0..<n))
                #expect(shards == (0..<ranks).map { plan.shard(epoch: epoch, rank: $0) })
                // Rank micro-slices concatenate to the global batch, in order.
                let perm = plan.permutation(epoch: epoch)
                for s in 0..<plan.stepsPerEpoch {
                    let joined = (0..<ranks).flatMap { Array(plan.rankBatch(step: s, rank: $0, permutation: perm)) }
                    #expect(joined == Array(plan.globalBatch(step: s, permutation: perm)))
                }
            }
        }
    }

    @Test func epochsShuffleDifferentlyAndSeedsReproduce() {
        let a = EpochPlan(exampleCount: 50, globalBatchSize: 5, seed: 1)
        let b = EpochPlan(exampleCount: 50, globalBatchSize: 5, seed: 1)
        let c = EpochPlan(exampleCount: 50, globalBatchSize: 5, seed: 2)
        #expect(a.permutation(epoch: 0) == b.permutation(epoch: 0))
        #expect(a.permutation(epoch: 0) != a.permutation(epoch: 1))
        #expect(a.permutation(epoch: 0) != c.permutation(epoch: 0))
        #expect(Set(a.permutation(epoch: 3)) == Set(0..<50))
        #expect(EpochPlan(exampleCount: 5, globalBatchSize: 2, seed: 1, shuffle: false).permutation(epoch: 4) == [0, 1, 2, 3, 4])
    }

    @Test func dropLastGivesFullBatchesOnly() {
        let plan = EpochPlan(exampleCount: 103, globalBatchSize: 10, ranks: 3, seed: 9, dropLast: true)
        #expect(plan.stepsPerEpoch == 10)
        let all = (0..<3).flatMap { plan.shard(epoch: 0, rank: $0) }
        #expect(all.count == 100 && Set(all).count == 100)
        #expect(EpochPlan.shardRows(batchSize: 10, rank: 1, ranks: 3) == 3..<6)
    }
}

@Suite struct DataTransformTests {
    @Test func standardizerUsesTrainingStatistics() {
        let x = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let train = LabeledDataset(name: "t", features: x, labels: [0, 1], classCount: 2)
        let s = Standardizer(fitting: train)
        #expect(s.mean == 2.5 && abs(s.std - Float(1.25).squareRoot()) < 1e-6)
        let test = LabeledDataset(name: "u", features: Tensor(shape: [1, 2], values: [2.5, 5]), labels: [0], classCount: 2)
        s.apply(to: train)
        s.apply(to: test)
        #expect(abs(train.features.sum()) < 1e-6)
        #expect(test.features[0] == 0 && abs(test.features[1] - 2.5 / Float(1.25).squareRoot()) < 1e-5)
    }

    @Test func splitIsDisjointAndSeeded() {
        let n = 40
        let x = Tensor(shape: [n, 1], values: (0..<n).map(Float.init))
        let d = LabeledDataset(name: "d", features: x, labels: (0..<n).map { Int32($0 % 4) }, classCount: 4)
        let (train, validation) = d.split(validationFraction: 0.25, seed: 3)
        #expect(train.count == 30 && validation.count == 10)
        let ids = Set(train.features.array + validation.features.array)
        #expect(ids.count == n)
        #expect(validation.features.array == d.split(validationFraction: 0.25, seed: 3).validation.features.array)
        #expect(validation.features.array != d.split(validationFraction: 0.25, seed: 4).validation.features.array)
    }

    @Test func syntheticIsSeededAndShaped() {
        let a = Synthetic.classification(trainCount: 100, testCount: 20, seed: 5)
        let b = Synthetic.classification(trainCount: 100, testCount: 20, seed: 5)
        #expect(a.train.featureCount == 784 && a.train.classCount == 10 && a.test.count == 20)
        #expect(a.train.features.array == b.train.features.array && a.train.labels == b.train.labels)
        #expect(Set(a.train.labels).count == 10)
    }

    @Test func batchBufferGathersRows() {
        let x = Tensor(shape: [4, 2], values: [0, 1, 10, 11, 20, 21, 30, 31])
        let d = LabeledDataset(name: "d", features: x, labels: [0, 1, 2, 3], classCount: 4)
        let buf = BatchBuffer(capacity: 3, featureCount: 2)
        let (bx, by) = buf.load([3, 1], from: d)
        #expect(bx.shape == [2, 2] && bx.array == [30, 31, 10, 11] && Array(by) == [3, 1])
    }
}

@Suite struct FashionMNISTTests {
    /// Runs only where the Debian package is installed; checks the real files' shapes.
    @Test(.enabled(if: FashionMNIST.isAvailable()))
    func loadsInstalledFiles() throws {
        let (train, test) = try FashionMNIST.load()
        #expect(train.count == 60_000 && test.count == 10_000 && train.featureCount == 784)
        #expect(Set(train.labels).count == 10)
    }
}
