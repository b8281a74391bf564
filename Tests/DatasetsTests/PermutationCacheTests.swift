import Datasets
import Testing

/// Epoch permutations come from a small per-process cache (an elastic membership change asks for the current
/// one again, and a joiner prepares some ahead): whatever was cached or evicted, each is the seeded shuffle of
/// its (seed, epoch), a permutation of every example, and epochs differ.
@Suite struct PermutationCacheTests {
    @Test func cachedPermutationsEqualFreshOnesThroughEviction() {
        let plan = EpochPlan(exampleCount: 1000, globalBatchSize: 10, seed: 7)
        let other = EpochPlan(exampleCount: 1000, globalBatchSize: 10, seed: 8)
        let first = (0..<3).map { plan.permutation(epoch: $0) }
        plan.prepare(epochs: 0..<8)  // more than the cache holds: the earliest are evicted
        _ = (0..<6).map { other.permutation(epoch: $0) }
        for epoch in 0..<3 {
            let again = plan.permutation(epoch: epoch)
            #expect(again == first[epoch])
            #expect(again.sorted() == Array(0..<1000))
        }
        #expect(first[0] != first[1] && first[1] != first[2])
        #expect(plan.permutation(epoch: 0) != other.permutation(epoch: 0))
        #expect(EpochPlan(exampleCount: 5, globalBatchSize: 2, seed: 7, shuffle: false).permutation(epoch: 3) == [0, 1, 2, 3, 4])
    }
}
