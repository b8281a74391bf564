import Tensors

/// A fully connected layer y = x·K + b, with the kernel K stored [in, out] (Keras/Flax "kernel" layout; PyTorch's
/// `nn.Linear.weight` is Kᵀ, [out, in]) and b [out]. Flat-buffer order: K then b.
///
/// Why [in, out]: the GEMM packs a transposed B operand with scalar gathers, and with K [in, out] the only product
/// that reads the kernel transposed is dX, which the first layer never computes. The first layer is the largest
/// (784×256 of W1's 235k parameters), so this layout measured ~10% faster on W1 than [out, in].
/// `Sequential.saveSafeTensors` writes PyTorch's names and orientation ("i.weight" = Kᵀ).
///
/// The three products, all through `sgemm`:
///   forward  Y[B,out]  = X[B,in] · K[in,out]       (NN)
///   backward dK[in,out] = Xᵀ[in,B] · dY[B,out]     (TN)
///            dX[B,in]  = dY[B,out] · Kᵀ[out,in]   (NT)
public final class Dense: Layer {
    public let inputs: Int
    public let outputs: Int
    public var threads = 1
    /// [in, out]
    public private(set) var kernel = Tensor(shape: [0, 0])
    /// [out]
    public private(set) var bias = Tensor(shape: [0])
    public private(set) var kernelGradient = Tensor(shape: [0, 0])
    public private(set) var biasGradient = Tensor(shape: [0])
    /// Quantization-aware training: when set, forward and backward run on fake-quantized operands (see
    /// `DenseFakeQuantizer`); nil is plain fp32.
    public var fakeQuantizer: DenseFakeQuantizer?

    private var input: Tensor?
    private let output = ReusableBuffer()
    private let inputGradient = ReusableBuffer()

    public init(_ inputs: Int, _ outputs: Int) {
        precondition(inputs > 0 && outputs > 0, "Dense(\(inputs), \(outputs)): sizes must be positive")
        self.inputs = inputs
        self.outputs = outputs
    }

    public var kind: String { "dense" }
    public var parameterCount: Int { inputs * outputs + outputs }
    public func outputFeatures(forInput n: Int) -> Int? { n == inputs ? outputs : nil }

    /// 2·in·out forward (x·K), 2·in·out for ∂K and 2·in·out for ∂x when it is needed.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double {
        Double(inputs * outputs) * (needInputGradient ? 6 : 4)
    }

    public func bind(parameters: Tensor, gradients: Tensor) {
        precondition(parameters.count == parameterCount && gradients.count == parameterCount)
        let k = inputs * outputs
        kernel = Tensor(storage: parameters.storage, offset: parameters.offset, shape: [inputs, outputs])
        bias = Tensor(storage: parameters.storage, offset: parameters.offset + k, shape: [outputs])
        kernelGradient = Tensor(storage: gradients.storage, offset: gradients.offset, shape: [inputs, outputs])
        biasGradient = Tensor(storage: gradients.storage, offset: gradients.offset + k, shape: [outputs])
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [("kernel", kernel), ("bias", bias)] }

    /// PyTorch's names and orientation: "weight" [out, in] = Kᵀ, "bias" [out].
    public var exportedParameters: [(name: String, shape: [Int], values: [Float])] {
        var w = [Float](repeating: 0, count: inputs * outputs)
        let k = kernel.pointer
        for i in 0..<inputs { for o in 0..<outputs { w[o * inputs + i] = k[i * outputs + o] } }
        return [("weight", [outputs, inputs], w), ("bias", [outputs], bias.array)]
    }

    public func importParameter(name: String, shape: [Int], values: [Float]) -> Bool {
        switch (name, shape) {
        case ("weight", [outputs, inputs]):
            let k = kernel.pointer
            for i in 0..<inputs { for o in 0..<outputs { k[i * outputs + o] = values[o * inputs + i] } }
            return true
        case ("kernel", [inputs, outputs]):
            values.withUnsafeBufferPointer { kernel.pointer.update(from: $0.baseAddress!, count: values.count) }
            return true
        case ("bias", [outputs]):
            values.withUnsafeBufferPointer { bias.pointer.update(from: $0.baseAddress!, count: values.count) }
            return true
        default:
            return false
        }
    }

    public func initialize(_ weights: Initializer, rng: inout Xoshiro256) {
        weights.fill(kernel, fanIn: inputs, fanOut: outputs, rng: &rng)
        bias.zero()
    }

    // x: [B, in] → y: [B, out]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.columns == inputs, "Dense(\(inputs), \(outputs)) given input \(x.shape)")
        let batch = x.rows
        let (a, k) = fakeQuantizer?.operands(input: x, kernel: kernel, training: training) ?? (x, kernel)
        input = a
        let y = output.view(rows: batch, columns: outputs)
        // Broadcast the bias into Y, then accumulate the product onto it (β = 1): one pass instead of two.
        let yp = y.pointer
        let bp = bias.pointer
        for r in 0..<batch { (yp + r * outputs).update(from: bp, count: outputs) }
        sgemm(
            transA: .none, transB: .none, m: batch, n: outputs, k: inputs, alpha: 1,
            a: a.pointer, lda: inputs, b: k.pointer, ldb: outputs, beta: 1, c: yp, ldc: outputs,
            threads: threads)
        return y
    }

    // dy: [B, out] → dx: [B, in]; dK [in, out] and db [out] into the gradient slice. Under fake quantization x is
    // fq(x) and K is fq(K) (saved by forward), and ∂x is zeroed where x was clipped (straight-through estimator).
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard let x = input else { preconditionFailure("Dense.backward before forward") }
        let batch = x.rows
        precondition(dy.rows == batch && dy.columns == outputs, "Dense(\(inputs), \(outputs)).backward given \(dy.shape)")
        sgemm(
            transA: .transpose, transB: .none, m: inputs, n: outputs, k: batch, alpha: 1,
            a: x.pointer, lda: inputs, b: dy.pointer, ldb: outputs, beta: accumulate ? 1 : 0,
            c: kernelGradient.pointer, ldc: outputs, threads: threads)
        columnSums(dy.pointer, rows: batch, cols: outputs, into: biasGradient.pointer, accumulate: accumulate)
        guard needInputGradient else { return nil }
        let dx = inputGradient.view(rows: batch, columns: inputs)
        let k = fakeQuantizer?.quantizedKernel ?? kernel
        sgemm(
            transA: .none, transB: .transpose, m: batch, n: inputs, k: outputs, alpha: 1,
            a: dy.pointer, lda: outputs, b: k.pointer, ldb: outputs, beta: 0, c: dx.pointer, ldc: inputs,
            threads: threads)
        fakeQuantizer?.maskInputGradient(dx)
        return dx
    }
}
