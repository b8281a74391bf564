import Tensors

/// Structured pruning of an MLP's hidden neurons: in each hidden layer the `sparsity` fraction of neurons with the
/// smallest L2 norm of their incoming weights (column j of the kernel [in, out]) is removed, and the model is
/// rebuilt smaller: that Dense loses those output columns and bias entries, the next Dense those input rows.
/// Unlike masks this makes every product smaller, so the pruned model is faster (torch.nn.utils.prune only masks).
/// The model must be Dense layers with element-wise layers between them (activation, dropout); inputs and outputs
/// keep their widths.
public enum StructuredPruning {
    public struct Result {
        public let model: Sequential
        /// The new widths, input first.
        public let widths: [Int]
        /// For each hidden Dense (in order), the kept neuron indices of the original layer, ascending.
        public let kept: [[Int]]
    }

    public static func shrink(_ model: Sequential, sparsity: Double) throws -> Result {
        try MagnitudePruning.checkSparsity(sparsity)
        let dense = model.layers.compactMap { $0 as? Dense }
        guard dense.count >= 2 else { throw PruningError("structured pruning needs a hidden layer (2 or more Dense)") }
        for layer in model.layers where !(layer is Dense) && layer.parameterCount > 0 {
            throw PruningError("layer \(layer.kind) has parameters; structured pruning handles Dense MLPs only")
        }
        var kept: [[Int]] = []
        for d in dense.dropLast() {
            let keep = max(1, d.outputs - Int((Double(d.outputs) * sparsity).rounded(.down)))
            let k = d.kernel.pointer
            let norms = (0..<d.outputs).map { j in
                (0..<d.inputs).reduce(Float(0)) { $0 + k[$1 * d.outputs + j] * k[$1 * d.outputs + j] }
            }
            // Largest norms kept; ties by lower index, then back in index order so the layer's order is preserved.
            let order = (0..<d.outputs).sorted { norms[$0] != norms[$1] ? norms[$0] > norms[$1] : $0 < $1 }
            kept.append(order.prefix(keep).sorted())
        }
        var layers: [Layer] = []
        var dIndex = 0
        var widths = [model.inputFeatures]
        for layer in model.layers {
            guard let d = layer as? Dense else {
                layers.append(layer)
                continue
            }
            let rows = dIndex == 0 ? Array(0..<d.inputs) : kept[dIndex - 1]
            let cols = dIndex < kept.count ? kept[dIndex] : Array(0..<d.outputs)
            layers.append(Dense(rows.count, cols.count))
            widths.append(cols.count)
            dIndex += 1
        }
        let small = Sequential(layers, inputFeatures: model.inputFeatures)
        copyKept(from: dense, to: small.layers.compactMap { $0 as? Dense }, kept: kept)
        return Result(model: small, widths: widths, kept: kept)
    }

    /// Copies the kept rows and columns of each kernel, and the kept bias entries.
    static func copyKept(from big: [Dense], to small: [Dense], kept: [[Int]]) {
        for (n, (b, s)) in zip(big, small).enumerated() {
            let rows = n == 0 ? Array(0..<b.inputs) : kept[n - 1]
            let cols = n < kept.count ? kept[n] : Array(0..<b.outputs)
            let (bk, sk) = (b.kernel.pointer, s.kernel.pointer)
            for (r, i) in rows.enumerated() { for (c, j) in cols.enumerated() { sk[r * s.outputs + c] = bk[i * b.outputs + j] } }
            for (c, j) in cols.enumerated() { s.bias.pointer[c] = b.bias.pointer[j] }
        }
    }

    /// Zeroes (in place) the pruned neurons of `model`: their incoming column, bias and outgoing row. The zeroed
    /// model computes what the shrunk one does (the equivalence the tests check).
    public static func zeroPruned(_ model: Sequential, kept: [[Int]]) {
        let dense = model.layers.compactMap { $0 as? Dense }
        for (n, keep) in kept.enumerated() {
            let (d, next) = (dense[n], dense[n + 1])
            let keepSet = Set(keep)
            for j in 0..<d.outputs where !keepSet.contains(j) {
                for i in 0..<d.inputs { d.kernel.pointer[i * d.outputs + j] = 0 }
                d.bias.pointer[j] = 0
                for o in 0..<next.outputs { next.kernel.pointer[j * next.outputs + o] = 0 }
            }
        }
    }
}
