import Tensors

/// A Dense layer for int8 inference: y = dequant(quant(x) · Kq) + b through the int8 GEMM. x is quantized per
/// tensor with the calibrated `inputScale` (symmetric, clamped to ±127), K per output channel
/// (`ChannelQuantizedWeights`); the GEMM's store applies inputScale·weightScale[j] and the bias in fp32, so the
/// layer takes and returns fp32 like `Dense` and drops into a `Sequential` beside the fp32 activations.
/// Inference only: it has no trainable parameters (QAT trains the fp32 Dense with fake quantization instead).
public final class QuantizedDense: Layer {
    public let inputs: Int
    public let outputs: Int
    public let weights: ChannelQuantizedWeights
    public let bias: [Float]
    public let inputScale: Float
    /// Applies ReLU in the GEMM's store (set when the next layer is a ReLU that the model then drops).
    public let fusedReLU: Bool
    private let packed: Int8PackedMatrix
    /// inputScale · weights.scales[j]
    private let columnScales: [Float]
    private let output = ReusableBuffer()
    private var quantizedInput: [Int8] = []

    public init(weights: ChannelQuantizedWeights, bias: [Float], inputScale: Float, fusedReLU: Bool = false) {
        precondition(bias.count == weights.outputs && inputScale > 0, "QuantizedDense: bias or scale")
        inputs = weights.inputs
        outputs = weights.outputs
        self.weights = weights
        self.bias = bias
        self.inputScale = inputScale
        self.fusedReLU = fusedReLU
        columnScales = weights.scales.map { inputScale * $0 }
        packed = weights.values.withUnsafeBufferPointer {
            Int8PackedMatrix(b: $0.baseAddress!, ldb: weights.outputs, k: weights.inputs, n: weights.outputs)
        }
    }

    public var kind: String { "qdense" }
    public func outputFeatures(forInput n: Int) -> Int? { n == inputs ? outputs : nil }

    /// 2·in·out forward only.
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double { Double(2 * inputs * outputs) }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.columns == inputs, "QuantizedDense(\(inputs), \(outputs)) given input \(x.shape)")
        let batch = x.rows
        if quantizedInput.count < batch * inputs { quantizedInput = [Int8](repeating: 0, count: batch * inputs) }
        let inverse = 1 / inputScale
        let xp = x.pointer
        let y = output.view(rows: batch, columns: outputs)
        quantizedInput.withUnsafeMutableBufferPointer { q in
            quantizeInt8(xp, count: batch * inputs, inverseScale: inverse, into: q.baseAddress!, kernel: packed.kernel)
            columnScales.withUnsafeBufferPointer { s in
                bias.withUnsafeBufferPointer { b in
                    let rq = Int8Requantization(scale: s.baseAddress!, bias: b.baseAddress!, relu: fusedReLU)
                    int8Gemm(
                        m: batch, a: q.baseAddress!, lda: inputs, b: packed,
                        output: .float32(y.pointer, ldc: outputs, rq))
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor? {
        preconditionFailure("QuantizedDense is inference-only")
    }

    /// The fp32 layer this one approximates: dequantized weights, same bias (for checks and QAT round trips).
    public func dequantizedKernel() -> [Float] { weights.dequantized() }
}
