import Foundation
import Tensors

/// Seeded shuffling and sharding.
///
/// Scheme (the one that makes data-parallel training testable against single-process training):
///  - every epoch has one permutation of all examples, a pure function of (seed, epoch), so every rank derives the
///    same one without communicating;
///  - the permutation is cut into GLOBAL batches of `globalBatchSize` consecutive entries; step s uses global batch s;
///  - rank r of R takes rows [⌊r·b/R⌋, ⌊(r+1)·b/R⌋) of each global batch of b rows.
/// So R ranks with global batch B see, at every step, exactly the examples one process with batch B would see, split
/// into disjoint contiguous micro-slices; with each rank's loss averaged over the GLOBAL batch (the loss's
/// `normalizer`), the all-reduced gradient sum equals the single-process gradient.
///
/// Remainder: when N is not a multiple of B the last global batch is short (b < B). By default it is KEPT
/// (like PyTorch's DataLoader drop_last=False) and split the same way, so one epoch covers every example exactly
/// once; every rank still runs the same number of steps (some ranks may get fewer rows, or none when b < R, and
/// must still join the step's all-reduce with a zero gradient). With `dropLast` the short batch is skipped instead
/// (DistributedSampler(drop_last=True)): every step has exactly B rows, and the tail of each epoch's permutation
/// (a different tail every epoch) goes unused.
public struct EpochPlan: Sendable, Equatable {
    public let exampleCount: Int
    public let globalBatchSize: Int
    public let ranks: Int
    public let seed: UInt64
    public let shuffle: Bool
    public let dropLast: Bool

    public init(
        exampleCount: Int, globalBatchSize: Int, ranks: Int = 1, seed: UInt64, shuffle: Bool = true,
        dropLast: Bool = false
    ) {
        precondition(
            exampleCount >= 0 && globalBatchSize > 0 && ranks > 0,
            "EpochPlan: \(exampleCount) examples, batch \(globalBatchSize), \(ranks) ranks")
        self.exampleCount = exampleCount
        self.globalBatchSize = globalBatchSize
        self.ranks = ranks
        self.seed = seed
        self.shuffle = shuffle
        self.dropLast = dropLast
    }

    /// Steps (global batches) per epoch: the same on every rank.
    public var stepsPerEpoch: Int {
        dropLast ? exampleCount / globalBatchSize : (exampleCount + globalBatchSize - 1) / globalBatchSize
    }

    /// This epoch's order of all examples (identity when not shuffling).
    public func permutation(epoch: Int) -> [Int] {
        shuffle
            ? PermutationCache.shared.permutation(count: exampleCount, seed: epochSeed(seed, epoch))
            : Array(0..<exampleCount)
    }

    /// Computes the permutations of `epochs` now (an elastic joiner, while it prepares), so that `permutation`
    /// finds them when training reaches them.
    public func prepare(epochs: Range<Int>) {
        guard shuffle else { return }
        for e in epochs.prefix(PermutationCache.capacity) { _ = permutation(epoch: e) }
    }

    /// Positions in the permutation of global batch `step`.
    public func globalBatchRange(step: Int) -> Range<Int> {
        precondition(step >= 0 && step < stepsPerEpoch, "step \(step) out of 0..<\(stepsPerEpoch)")
        let lo = step * globalBatchSize
        return lo..<min(lo + globalBatchSize, exampleCount)
    }

    /// The rows of a global batch of `size` rows that rank `rank` of `ranks` takes: [⌊r·b/R⌋, ⌊(r+1)·b/R⌋).
    public static func shardRows(batchSize size: Int, rank: Int, ranks: Int) -> Range<Int> {
        precondition(rank >= 0 && rank < ranks, "rank \(rank) out of 0..<\(ranks)")
        return (rank * size / ranks)..<((rank + 1) * size / ranks)
    }

    /// The example indices of global batch `step` (all ranks' rows).
    public func globalBatch(step: Int, permutation: [Int]) -> ArraySlice<Int> {
        permutation[globalBatchRange(step: step)]
    }

    /// The example indices rank `rank` uses at `step`.
    public func rankBatch(step: Int, rank: Int, permutation: [Int]) -> ArraySlice<Int> {
        let g = globalBatchRange(step: step)
        let rows = EpochPlan.shardRows(batchSize: g.count, rank: rank, ranks: ranks)
        return permutation[(g.lowerBound + rows.lowerBound)..<(g.lowerBound + rows.upperBound)]
    }

    /// Every example rank `rank` sees in `epoch`, in step order: its shard of the epoch.
    public func shard(epoch: Int, rank: Int) -> [Int] {
        let perm = permutation(epoch: epoch)
        var out: [Int] = []
        out.reserveCapacity(exampleCount / ranks + globalBatchSize)
        for s in 0..<stepsPerEpoch { out += rankBatch(step: s, rank: rank, permutation: perm) }
        return out
    }
}

/// A per-epoch seed from the run seed: independent streams for nearby epochs.
func epochSeed(_ seed: UInt64, _ epoch: Int) -> UInt64 {
    var g = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0xD1B5_4A32_D192_ED03))
    return g.next()
}

/// Fisher–Yates with a seeded SplitMix64.
public func seededPermutation(count: Int, seed: UInt64) -> [Int] {
    var p = Array(0..<count)
    var g = SplitMix64(seed: seed)
    var i = count - 1
    while i > 0 {
        let j = g.next(below: i + 1)
        p.swapAt(i, j)
        i -= 1
    }
    return p
}

@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
