import Collectives
import Datasets
import Foundation
import NN
import Tensors
import Training

/// `elastic: {deterministic: true}`: the summed gradient of a step is bitwise the same whatever the membership, so
/// a run with kills and rejoins ends on the same weights as a failure-free one (no reference offers this: torchft,
/// torchrun and Horovod all change the float summation order with the replica count).
///
/// Two things change with the membership in plain data parallelism, and both are fixed here:
/// - **which rows go into one backward pass**: a fixed number of logical shards L (`max_workers`) splits every
///   global batch as R ranks would, [⌊l·B/L⌋, ⌊(l+1)·B/L⌋); each physical rank runs one forward and backward pass
///   per logical shard it holds (a contiguous range of them), so each shard's gradient is computed alike wherever
///   it runs;
/// - **the order the shards' gradients are added in**: each gradient becomes integers on a grid shared by all
///   ranks (per block of 4,096 values, 2^e with e from the block's largest magnitude over every shard, found by an
///   exact all-reduce of each rank's own maxima), split into two pieces of b = 24 − ⌈log₂ L⌉ bits that fp32 adds
///   exactly in any order (L contributions keep every partial sum below 2^24). The ring sums the pieces; every
///   rank decodes the same integer sum. The grid spans 2b − 1 bits below the block's largest magnitude (45 bits
///   for L = 2, 33 for L = 128): finer than fp32's own 24 bits there.
///
/// Cost: one backward pass per logical shard instead of per rank (the same when every worker is up), no overlap of
/// the all-reduce with backward, and 2× the bytes of an fp32 all-reduce.
public final class DeterministicGradientSum {
    /// The most logical shards: each piece keeps at least 17 bits (the grid 33).
    public static let maximumLogicalShards = 128
    static let blockSize = 4096

    public let logicalShards: Int
    /// Bits per piece: L pieces of b bits sum below 2^24, exact in fp32.
    let pieceBits: Int
    /// Magnitudes on the grid stay below 2^(2b − 1), so the high piece is a signed b-bit value.
    var gridBits: Int { 2 * pieceBits - 1 }
    private let parameterCount: Int
    /// Copies of the gradients of this rank's shards but the last (which stays in the model's buffer).
    private var shardGradients: [[Float]] = []
    private var pieces: [Float]

    public init(logicalShards: Int, parameterCount: Int) {
        self.logicalShards = max(1, min(logicalShards, Self.maximumLogicalShards))
        var bitsForCount = 0
        while 1 << bitsForCount < self.logicalShards { bitsForCount += 1 }
        pieceBits = 24 - bitsForCount
        self.parameterCount = parameterCount
        pieces = [Float](repeating: 0, count: 2 * parameterCount)
    }

    private var blockCount: Int { (parameterCount + Self.blockSize - 1) / Self.blockSize }

    /// The logical shards rank `rank` of `ranks` computes: a contiguous range, spread as evenly as rows are.
    public func shards(rank: Int, ranks: Int) -> Range<Int> {
        EpochPlan.shardRows(batchSize: logicalShards, rank: rank, ranks: ranks)
    }

    /// Forward and backward over each of this rank's logical shards of `globalBatch` (example indices), then the
    /// exact sum over all ranks into `trainer.model.gradients`. Returns the loss summed over this rank's rows, its
    /// correct predictions, its row count, and the seconds spent agreeing on the grid and summing.
    public func computeAndSum(
        trainer: Trainer, globalBatch: ArraySlice<Int>, data: LabeledDataset, buffer: BatchBuffer,
        communicator c: Communicator?
    ) throws -> (lossSum: Double, correct: Int, rows: Int, reduceSeconds: Double) {
        // A last survivor alone (no communicator) still sums its shards exactly, as the full membership would.
        let (rank, size) = (c?.rank ?? 0, c?.size ?? 1)
        let mine = shards(rank: rank, ranks: size)
        let b = globalBatch.count
        var lossSum = 0.0
        var correct = 0
        var rows = 0
        shardGradients = []
        let model = trainer.model.gradients.pointer
        var lastInModel = false
        for l in mine {
            let r = EpochPlan.shardRows(batchSize: b, rank: l, ranks: logicalShards)
            guard !r.isEmpty else { continue }  // an empty shard adds nothing
            if lastInModel { shardGradients.append(Array(UnsafeBufferPointer(start: model, count: parameterCount))) }
            let indices = globalBatch[(globalBatch.startIndex + r.lowerBound)..<(globalBatch.startIndex + r.upperBound)]
            let (x, labels) = buffer.load(indices, from: data)
            let (loss, right) = trainer.computeGradients(x: x, labels: labels, normalizer: b)
            lossSum += Double(loss) * Double(r.count)
            correct += right
            rows += r.count
            lastInModel = true
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let exponents = try withShardPointers(model: lastInModel ? UnsafePointer(model) : nil) { sources in
            let exponents = try blockExponents(sources, c, rank: rank, size: size)
            encode(sources, exponents)
            return exponents
        }
        try c?.allReduce(&pieces, op: .sum)
        decode(exponents, into: model)
        shardGradients = []
        return (lossSum, correct, rows, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }

    /// `body` over this rank's shard gradients: the copies, then the model's buffer when it holds the last one.
    private func withShardPointers<T>(model: UnsafePointer<Float>?, _ body: ([UnsafePointer<Float>]) throws -> T) rethrows
        -> T
    {
        func nest(_ k: Int, _ acc: [UnsafePointer<Float>]) throws -> T {
            guard k < shardGradients.count else { return try body(acc + (model.map { [$0] } ?? [])) }
            return try shardGradients[k].withUnsafeBufferPointer { b in
                guard let base = b.baseAddress else { return try nest(k + 1, acc) }  // a model with no parameters
                return try nest(k + 1, acc + [base])
            }
        }
        return try nest(0, [])
    }

    /// Per block, the grid exponent e (values are multiples of 2^e), from the largest magnitude of any shard on any
    /// rank: each rank writes its own row of a table that a sum all-reduce fills exactly (x + 0 = x); nil marks a
    /// block holding a NaN or an infinity somewhere.
    private func blockExponents(_ sources: [UnsafePointer<Float>], _ c: Communicator?, rank: Int, size: Int) throws
        -> [Int?]
    {
        let n = blockCount
        var table = [Float](repeating: 0, count: size * n)
        for g in sources {
            for blk in 0..<n {
                let range = blockRange(blk)
                let m = GridSumKernels.maxMagnitude(g + range.lowerBound, count: range.count)
                table[rank * n + blk] = max(table[rank * n + blk], m)
            }
        }
        try c?.allReduce(&table, op: .sum)
        return (0..<n).map { blk in
            var m: Float = 0
            for r in 0..<size {
                let v = table[r * n + blk]
                if !v.isFinite { return nil }
                m = max(m, v)
            }
            // m < 2^(exponent + 1), so |g| · 2^-e < 2^gridBits.
            return m > 0 ? Int(m.exponent) + 1 - gridBits : 0
        }
    }

    private func blockRange(_ blk: Int) -> Range<Int> {
        (blk * Self.blockSize)..<min((blk + 1) * Self.blockSize, parameterCount)
    }

    /// This rank's shards on the grid, as two pieces per value ([low | high], the high one signed), added up in
    /// `pieces` (exact: fewer than 2^24 in magnitude).
    private func encode(_ sources: [UnsafePointer<Float>], _ exponents: [Int?]) {
        let n = parameterCount
        let limit = Double(sign: .plus, exponent: gridBits, significand: 1) - 1
        pieces.withUnsafeMutableBufferPointer { p in
            guard let low = p.baseAddress else { return }
            let high = low + n
            low.update(repeating: 0, count: 2 * n)
            for g in sources {
                for (blk, e) in exponents.enumerated() {
                    guard let e else { continue }
                    let r = blockRange(blk)
                    // In range for every honest table; clamped so that no table can make a piece inexact.
                    GridSumKernels.encode(
                        g + r.lowerBound, count: r.count, scale: Double(sign: .plus, exponent: -e, significand: 1),
                        pieceBits: pieceBits, limit: limit, low: low + r.lowerBound, high: high + r.lowerBound)
                }
            }
        }
    }

    /// The summed integers back to floats: Σ = Σlow + Σhigh · 2^b, times 2^e.
    private func decode(_ exponents: [Int?], into out: UnsafeMutablePointer<Float>) {
        let n = parameterCount
        pieces.withUnsafeBufferPointer { p in
            guard let low = p.baseAddress else { return }
            let high = low + n
            for (blk, e) in exponents.enumerated() {
                let range = blockRange(blk)
                guard let e else {
                    for i in range { out[i] = .nan }
                    continue
                }
                // Exact sums are integers below 2^24; anything else came from a peer that broke the protocol.
                GridSumKernels.decode(
                    low: low + range.lowerBound, high: high + range.lowerBound, count: range.count,
                    pieceBits: pieceBits, scale: Double(sign: .plus, exponent: e, significand: 1),
                    into: out + range.lowerBound)
            }
        }
    }
}
