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
///   exact all-reduce of each rank's own maxima), split into three 16-bit pieces that fp32 adds exactly in any
///   order (L ≤ 128 contributions keep every partial sum below 2^24). The ring sums the pieces; every rank decodes
///   the same integer sum. Values below 2^-46 of their block's largest are rounded to the grid (about 22 bits
///   finer than fp32's own resolution at the block's largest value).
///
/// Cost: one backward pass per logical shard instead of per rank (the same when every worker is up), no overlap of
/// the all-reduce with backward, and 3× the bytes of an fp32 all-reduce.
public final class DeterministicGradientSum {
    /// The most logical shards: their piece sums (< L · 2^16) and the decoded integers (< L · 2^46) stay exact.
    public static let maximumLogicalShards = 128
    static let blockSize = 4096
    /// Magnitudes on the grid stay below 2^46.
    static let gridBits = 46
    static let gridLimit = Double(sign: .plus, exponent: gridBits, significand: 1)

    public let logicalShards: Int
    private let parameterCount: Int
    private var shardGradients: [[Float]] = []
    private var pieces: [Float]

    public init(logicalShards: Int, parameterCount: Int) {
        self.logicalShards = max(1, min(logicalShards, Self.maximumLogicalShards))
        self.parameterCount = parameterCount
        pieces = [Float](repeating: 0, count: 3 * parameterCount)
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
        shardGradients = mine.map { _ in [] }
        for (k, l) in mine.enumerated() {
            let r = EpochPlan.shardRows(batchSize: b, rank: l, ranks: logicalShards)
            guard !r.isEmpty else { continue }  // an empty shard adds nothing
            let indices = globalBatch[(globalBatch.startIndex + r.lowerBound)..<(globalBatch.startIndex + r.upperBound)]
            let (x, labels) = buffer.load(indices, from: data)
            let (loss, right) = trainer.computeGradients(x: x, labels: labels, normalizer: b)
            lossSum += Double(loss) * Double(r.count)
            correct += right
            rows += r.count
            let g = trainer.model.gradients
            shardGradients[k] = Array(UnsafeBufferPointer(start: g.pointer, count: parameterCount))
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let exponents = try blockExponents(c, rank: rank, size: size)
        encode(exponents)
        try c?.allReduce(&pieces, op: .sum)
        decode(exponents, into: trainer.model.gradients.pointer)
        shardGradients = []
        return (lossSum, correct, rows, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }

    /// Per block, the grid exponent e (values are multiples of 2^e), from the largest magnitude of any shard on any
    /// rank: each rank writes its own row of a table that a sum all-reduce fills exactly (x + 0 = x); nil marks a
    /// block holding a NaN or an infinity somewhere.
    private func blockExponents(_ c: Communicator?, rank: Int, size: Int) throws -> [Int?] {
        let n = blockCount
        var table = [Float](repeating: 0, count: size * n)
        for g in shardGradients where !g.isEmpty {
            for blk in 0..<n {
                var m: Float = table[rank * n + blk]
                for i in (blk * Self.blockSize)..<min((blk + 1) * Self.blockSize, parameterCount) {
                    let a = abs(g[i])
                    m = a > m || a.isNaN ? a : m
                }
                table[rank * n + blk] = m
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
            return m > 0 ? Int(m.exponent) + 1 - Self.gridBits : 0
        }
    }

    /// This rank's shards on the grid, as three 16-bit pieces per value ([low | middle | high], the high piece
    /// signed), added up in `pieces` (exact: fewer than 2^24 in magnitude).
    private func encode(_ exponents: [Int?]) {
        let n = parameterCount
        pieces.withUnsafeMutableBufferPointer { p in
            p.update(repeating: 0)
            for g in shardGradients where !g.isEmpty {
                for (blk, e) in exponents.enumerated() {
                    guard let e else { continue }
                    let scale = Double(sign: .plus, exponent: -e, significand: 1)
                    for i in (blk * Self.blockSize)..<min((blk + 1) * Self.blockSize, n) {
                        // In range for every honest table; clamped so that no table can make the conversion trap.
                        let x = min(max((Double(g[i]) * scale).rounded(), -Self.gridLimit), Self.gridLimit)
                        let v = Int64(x)
                        p[i] += Float(v & 0xFFFF)
                        p[n + i] += Float((v >> 16) & 0xFFFF)
                        p[2 * n + i] += Float(v >> 32)
                    }
                }
            }
        }
    }

    /// The summed integers back to floats: Σ = Σlow + Σmiddle·2^16 + Σhigh·2^32, times 2^e.
    private func decode(_ exponents: [Int?], into out: UnsafeMutablePointer<Float>) {
        let n = parameterCount
        for (blk, e) in exponents.enumerated() {
            let range = (blk * Self.blockSize)..<min((blk + 1) * Self.blockSize, n)
            guard let e else {
                for i in range { out[i] = .nan }
                continue
            }
            let scale = Double(sign: .plus, exponent: e, significand: 1)
            for i in range {
                let (low, middle, high) = (pieces[i], pieces[n + i], pieces[2 * n + i])
                // Exact sums are integers below 2^24; anything else came from a peer that broke the protocol.
                guard abs(low) < 0x1p24, abs(middle) < 0x1p24, abs(high) < 0x1p24 else {
                    out[i] = .nan
                    continue
                }
                let sum = Int64(low) + Int64(middle) << 16 + Int64(high) << 32
                out[i] = Float(Double(sum) * scale)
            }
        }
    }
}
