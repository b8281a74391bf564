import Tensors

/// A fully connected layer y = x·Wᵀ + b with W stored [out, in] (PyTorch's `nn.Linear` layout, so saved weights
/// load into PyTorch unchanged) and b [out]. Flat-buffer order: W then b.
///
/// The three products, all through `sgemm`:
///   forward  Y[B,out]  = X[B,in] · Wᵀ            (transB)
///   backward dW[out,in] = dYᵀ[out,B] · X[B,in]    (transA)
///            dX[B,in]  = dY[B,out] · W[out,in]   (none)
public final class Dense: Layer {
    public let inputs: Int
    public let outputs: Int
    public var threads = 1
    public private(set) var weight = Tensor(shape: [0, 0])
    public private(set) var bias = Tensor(shape: [0])
    public private(set) var weightGradient = Tensor(shape: [0, 0])
    public private(set) var biasGradient = Tensor(shape: [0])

    private var input: Tensor?
    private let output = ReusableBuffer()
    private let inputGradient = ReusableBuffer()

    public init(_ inputs: Int, _ outputs: Int) {
        precondition(inputs > 0 && outputs > 0, "Dense(\(inputs), \(outputs)): sizes must be positive")
        self.inputs = inputs
        self.outputs = outputs
    }

    public var kind: String { "dense" }
    public var parameterCount: Int { outputs * inputs + outputs }
    public func outputFeatures(forInput n: Int) -> Int? { n == inputs ? outputs : nil }

    public func bind(parameters: Tensor, gradients: Tensor) {
        precondition(parameters.count == parameterCount && gradients.count == parameterCount)
        let w = outputs * inputs
        weight = Tensor(storage: parameters.storage, offset: parameters.offset, shape: [outputs, inputs])
        bias = Tensor(storage: parameters.storage, offset: parameters.offset + w, shape: [outputs])
        weightGradient = Tensor(storage: gradients.storage, offset: gradients.offset, shape: [outputs, inputs])
        biasGradient = Tensor(storage: gradients.storage, offset: gradients.offset + w, shape: [outputs])
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", weight), ("bias", bias)] }

    public func initialize(_ weights: Initializer, rng: inout Xoshiro256) {
        weights.fill(weight, fanIn: inputs, fanOut: outputs, rng: &rng)
        bias.zero()
    }

    // x: [B, in] → y: [B, out]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.columns == inputs, "Dense(\(inputs), \(outputs)) given input \(x.shape)")
        let batch = x.rows
        input = x
        let y = output.view(rows: batch, columns: outputs)
        // Broadcast the bias into Y, then accumulate the product onto it (β = 1): one pass instead of two.
        let yp = y.pointer, bp = bias.pointer
        for r in 0..<batch { (yp + r * outputs).update(from: bp, count: outputs) }
        sgemm(transA: .none, transB: .transpose, m: batch, n: outputs, k: inputs, alpha: 1,
              a: x.pointer, lda: inputs, b: weight.pointer, ldb: inputs, beta: 1, c: yp, ldc: outputs,
              threads: threads)
        return y
    }

    // dy: [B, out] → dx: [B, in]; dW [out, in] and db [out] into the gradient slice.
    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        guard let x = input else { preconditionFailure("Dense.backward before forward") }
        let batch = x.rows
        precondition(dy.rows == batch && dy.columns == outputs, "Dense(\(inputs), \(outputs)).backward given \(dy.shape)")
        sgemm(transA: .transpose, transB: .none, m: outputs, n: inputs, k: batch, alpha: 1,
              a: dy.pointer, lda: outputs, b: x.pointer, ldb: inputs, beta: accumulate ? 1 : 0,
              c: weightGradient.pointer, ldc: inputs, threads: threads)
        columnSums(dy.pointer, rows: batch, cols: outputs, into: biasGradient.pointer, accumulate: accumulate)
        guard needInputGradient else { return nil }
        let dx = inputGradient.view(rows: batch, columns: inputs)
        sgemm(transA: .none, transB: .none, m: batch, n: inputs, k: outputs, alpha: 1,
              a: dy.pointer, lda: outputs, b: weight.pointer, ldb: inputs, beta: 0, c: dx.pointer, ldc: inputs,
              threads: threads)
        return dx
    }
}
