import Foundation

/// One operation of a training step with its work: floating-point operations and the bytes it must move at least
/// (each operand read once, each result written once, fp32), the numbers a roofline places it by.
public struct StepOp: Sendable, Equatable {
    public var name: String
    public var flops: Double
    public var bytes: Double
    /// The distinct bytes it touches (its working set): `bytes` unless it reads and writes the same arrays (the
    /// optimizer reads and rewrites w and v: 20 bytes moved per parameter over 12 bytes of arrays).
    public var footprint: Double
    /// m × n × k and whether A is read transposed, when the op is a GEMM.
    public var gemm: GEMMDims?

    public init(name: String, flops: Double, bytes: Double, footprint: Double? = nil, gemm: GEMMDims? = nil) {
        self.name = name
        self.flops = flops
        self.bytes = bytes
        self.footprint = footprint ?? bytes
        self.gemm = gemm
    }

    /// FLOPs per byte (0 for a pure copy).
    public var intensity: Double { bytes > 0 ? flops / bytes : 0 }
}

/// A step GEMM's C = op(A)·op(B) sizes: C is m × n, k the depth; `aTransposed` for Xᵀ·dY.
public struct GEMMDims: Sendable, Equatable {
    public var m: Int, n: Int, k: Int
    public var aTransposed: Bool

    public init(m: Int, n: Int, k: Int, aTransposed: Bool = false) {
        (self.m, self.n, self.k, self.aTransposed) = (m, n, k, aTransposed)
    }
}

/// The operations of one step of an MLP `widths` (Dense layers with ReLU between them, softmax cross-entropy,
/// momentum SGD) on a batch of `batch` rows, in execution order, with their FLOP and byte counts:
/// - Dense forward Y = X·K + b: the bias broadcast into Y (4(b + Bb) bytes, no FLOPs), then the GEMM with β = 1
///   (2·B·in·out FLOPs; reads X, K and Y, writes Y);
/// - ReLU forward (B·n max operations; reads x, writes y), backward (B·n; reads y and dy, writes dx);
/// - the loss, softmax cross-entropy forward and backward (5 FLOPs per logit: max, subtract, exp, sum,
///   normalise-and-subtract; reads logits and labels, writes the logit gradient);
/// - Dense backward: dK = Xᵀ·dY and dX = dY·Kᵀ (2·B·in·out each; dX skipped for the first layer), db = column
///   sums of dY (B·out adds);
/// - the optimizer: v = μv + g, w −= lr·v over all P parameters (4P FLOPs; reads w, g, v, writes w, v: 20P bytes).
public enum MLPStepOps {
    public static func ops(widths: [Int], batch: Int) -> [StepOp] {
        let f = 4.0
        let bsz = Double(batch)
        var ops: [StepOp] = []
        let layers = widths.count - 1
        for l in 0..<layers {
            let (a, b) = (Double(widths[l]), Double(widths[l + 1]))
            ops.append(StepOp(name: "dense\(l).fwd_bias", flops: 0, bytes: f * (b + bsz * b)))
            ops.append(
                StepOp(
                    name: "dense\(l).fwd_gemm", flops: 2 * bsz * a * b, bytes: f * (bsz * a + a * b + 2 * bsz * b),
                    gemm: GEMMDims(m: batch, n: widths[l + 1], k: widths[l])))
            if l < layers - 1 { ops.append(StepOp(name: "relu\(l).fwd", flops: bsz * b, bytes: f * 2 * bsz * b)) }
        }
        let classes = Double(widths.last ?? 0)
        ops.append(StepOp(name: "loss", flops: 5 * bsz * classes, bytes: f * (2 * bsz * classes + bsz)))
        for l in stride(from: layers - 1, through: 0, by: -1) {
            let (a, b) = (Double(widths[l]), Double(widths[l + 1]))
            if l < layers - 1 { ops.append(StepOp(name: "relu\(l).bwd", flops: bsz * b, bytes: f * 3 * bsz * b)) }
            ops.append(
                StepOp(
                    name: "dense\(l).gemm_dW", flops: 2 * bsz * a * b, bytes: f * (bsz * a + bsz * b + a * b),
                    gemm: GEMMDims(m: widths[l], n: widths[l + 1], k: batch, aTransposed: true)))
            ops.append(StepOp(name: "dense\(l).bias_grad", flops: bsz * b, bytes: f * (bsz * b + b)))
            if l > 0 {
                ops.append(
                    StepOp(
                        name: "dense\(l).gemm_dX", flops: 2 * bsz * a * b, bytes: f * (bsz * b + a * b + bsz * a),
                        gemm: GEMMDims(m: batch, n: widths[l], k: widths[l + 1])))
            }
        }
        var parameters = 0
        for l in 0..<layers { parameters += (widths[l] + 1) * widths[l + 1] }
        let p = Double(parameters)
        ops.append(StepOp(name: "optimizer", flops: 4 * p, bytes: f * 5 * p, footprint: f * 3 * p))
        return ops
    }
}
