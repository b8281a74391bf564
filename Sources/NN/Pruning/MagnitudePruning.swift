import Foundation
import Tensors

/// A pruning request that cannot be carried out, on one line.
public struct PruningError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Unstructured magnitude pruning of Dense kernels (biases are kept, as in Zhu & Gupta and torch.nn.utils.prune's
/// usual use): the `sparsity` fraction of weights with the smallest |w| becomes 0, ranked over all Dense kernels
/// together (`global`, which lets wide layers give up more) or within each kernel. Returns one mask per Dense
/// layer (model index → 1 kept / 0 pruned, [in, out] like the kernel), for training that must keep them zero.
public enum MagnitudePruning {
    public static func prune(_ model: Sequential, sparsity: Double, global: Bool) throws -> [Int: [Float]] {
        try checkSparsity(sparsity)
        let dense = model.layers.enumerated().compactMap { i, l in (l as? Dense).map { (i, $0) } }
        guard !dense.isEmpty else { throw PruningError("the model has no Dense layer to prune") }
        var masks: [Int: [Float]] = [:]
        if global {
            let all = dense.flatMap { $0.1.kernel.array.map(abs) }
            let threshold = cutoff(all, sparsity: sparsity)
            var budget = pruneCount(all.count, sparsity) - all.filter { $0 < threshold }.count
            for (i, d) in dense { masks[i] = apply(d, threshold: threshold, ties: &budget) }
        } else {
            for (i, d) in dense {
                let w = d.kernel.array.map(abs)
                let threshold = cutoff(w, sparsity: sparsity)
                var budget = pruneCount(w.count, sparsity) - w.filter { $0 < threshold }.count
                masks[i] = apply(d, threshold: threshold, ties: &budget)
            }
        }
        return masks
    }

    public static func checkSparsity(_ s: Double) throws {
        guard s >= 0 && s < 1 else { throw PruningError("sparsity \(s) is not in [0, 1)") }
    }

    /// The fraction of Dense kernel weights that are exactly 0.
    public static func sparsity(of model: Sequential) -> Double {
        let w = model.layers.compactMap { ($0 as? Dense)?.kernel.array }.joined()
        return w.isEmpty ? 0 : Double(w.filter { $0 == 0 }.count) / Double(w.count)
    }

    static func pruneCount(_ n: Int, _ sparsity: Double) -> Int { Int((Double(n) * sparsity).rounded(.down)) }

    /// The |w| of the weight that is the first kept one: everything below it is pruned, and ties at it are pruned in
    /// index order until exactly ⌊n·s⌋ are gone.
    static func cutoff(_ magnitudes: [Float], sparsity: Double) -> Float {
        let k = pruneCount(magnitudes.count, sparsity)
        guard k > 0 else { return -1 }
        return magnitudes.sorted()[k - 1]
    }

    /// Zeroes |w| < threshold, and |w| == threshold while `ties` lasts (index order); returns the mask.
    static func apply(_ dense: Dense, threshold: Float, ties: inout Int) -> [Float] {
        let p = dense.kernel.pointer
        var mask = [Float](repeating: 1, count: dense.kernel.count)
        for i in 0..<dense.kernel.count {
            let a = abs(p[i])
            if a < threshold || (a == threshold && ties > 0) {
                if a == threshold { ties -= 1 }
                p[i] = 0
                mask[i] = 0
            }
        }
        return mask
    }
}
