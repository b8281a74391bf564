import Tensors

/// One step of a `Sequential` model: a forward/backward pair on batches of row vectors ([batch, features],
/// row-major).
///
/// A layer does not own its parameters: the model allocates one flat parameter buffer and one flat gradient
/// buffer for all layers and hands each layer a slice of `parameterCount` elements of each (`bind`). That is
/// what makes a model's gradient one contiguous all-reduce and a range of layers one pipeline stage.
///
/// Buffers: a layer keeps its output and input-gradient buffers between steps (sized by the largest batch seen),
/// so a steady-state training step allocates no tensor memory. The tensor a layer returns stays valid until the
/// layer's next call of the same kind.
public protocol Layer: AnyObject {
    /// A short kind name ("dense", "relu", …) used in parameter names and summaries.
    var kind: String { get }
    /// Number of Float parameters in this layer's slice of the flat buffers (0 for activations).
    var parameterCount: Int { get }
    /// The output width for an input width; `nil` when the layer cannot take that input (e.g. a Dense of other width).
    func outputFeatures(forInput inputFeatures: Int) -> Int?
    /// Hands the layer its views into the model's flat buffers, each `parameterCount` long.
    func bind(parameters: Tensor, gradients: Tensor)
    /// Number of Float buffer values: state that is not trained but belongs to the model and is saved with it
    /// (BatchNorm's running statistics, PyTorch's `register_buffer`). They live in the model's flat `buffers`, outside
    /// the parameters, so no optimizer, weight decay or gradient all-reduce touches them. 0 for most layers.
    var bufferCount: Int { get }
    /// Hands the layer its view into the model's flat buffer values, `bufferCount` long.
    func bind(buffers: Tensor)
    /// Named views of the buffers (e.g. "running_mean"), in buffer order; saved in checkpoints and exports.
    var namedBuffers: [(name: String, tensor: Tensor)] { get }
    /// Named views of the parameters as stored (e.g. Dense: "kernel" [in, out], "bias" [out]), in flat-buffer order.
    var namedParameters: [(name: String, tensor: Tensor)] { get }
    /// Copies of the parameters under PyTorch's names and orientation (Dense: "weight" [out, in], "bias"), for
    /// interchange files. Defaults to `namedParameters`.
    var exportedParameters: [(name: String, shape: [Int], values: [Float])] { get }
    /// Sets one parameter from an exported or stored name and shape; false when the layer has no such parameter.
    func importParameter(name: String, shape: [Int], values: [Float]) -> Bool
    /// Draws initial parameters; `weights` for matrices, biases start at zero.
    func initialize(_ weights: Initializer, rng: inout Xoshiro256)
    /// x: [batch, in] → y: [batch, out]. `training` switches dropout on.
    func forward(_ x: Tensor, training: Bool) -> Tensor
    /// dy: [batch, out] (∂loss/∂y for the batch of the last forward) → dx: [batch, in], or nil when
    /// `needInputGradient` is false (the first layer of a model: nobody needs ∂loss/∂input).
    /// Parameter gradients are written into the bound gradient slice (or added to it when `accumulate`).
    /// May overwrite `dy`.
    func backward(_ dy: Tensor, accumulate: Bool, needInputGradient: Bool) -> Tensor?
    /// GEMM threads for this layer's matrix products.
    var threads: Int { get set }
    /// Estimated FLOPs of one training step (forward + backward) per example for an input of `inputFeatures`
    /// columns; `needInputGradient` false when backward skips ∂loss/∂input (the model's first layer). Only the ratio
    /// between layers matters: pipeline stages are balanced on it.
    func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double
}

extension Layer {
    public var parameterCount: Int { 0 }
    public func bind(parameters: Tensor, gradients: Tensor) {}
    public var bufferCount: Int { 0 }
    public func bind(buffers: Tensor) {}
    public var namedBuffers: [(name: String, tensor: Tensor)] { [] }
    public var namedParameters: [(name: String, tensor: Tensor)] { [] }
    public var exportedParameters: [(name: String, shape: [Int], values: [Float])] {
        namedParameters.map { ($0.name, $0.tensor.shape, $0.tensor.array) }
    }
    public func importParameter(name: String, shape: [Int], values: [Float]) -> Bool {
        guard let t = namedParameters.first(where: { $0.name == name })?.tensor, t.shape == shape else { return false }
        values.withUnsafeBufferPointer { t.pointer.update(from: $0.baseAddress!, count: values.count) }
        return true
    }
    public func initialize(_ weights: Initializer, rng: inout Xoshiro256) {}
    public var threads: Int {
        get { 1 }
        set {}
    }
    /// Element-wise layers: a few FLOPs per output element (forward, backward and the mask or derivative).
    public func trainingFLOPs(input inputFeatures: Int, needInputGradient: Bool) -> Double {
        Double(outputFeatures(forInput: inputFeatures) ?? inputFeatures) * 3
    }
    /// The cost inside a model, where every layer's input gradient is needed.
    public func trainingFLOPs(input inputFeatures: Int) -> Double {
        trainingFLOPs(input: inputFeatures, needInputGradient: true)
    }
}

/// A [rows, columns] buffer reused across steps: grows when a larger batch arrives, and hands out the same view
/// while the shape stays the same (so steady-state steps allocate nothing).
public final class ReusableBuffer: @unchecked Sendable {
    private var storage: TensorStorage?
    private var cached: Tensor?

    public init() {}

    public func view(rows: Int, columns: Int) -> Tensor {
        if let c = cached, c.shape[0] == rows, c.shape[1] == columns { return c }
        let n = rows * columns
        if storage == nil || storage!.count < n { storage = TensorStorage(count: n) }
        let t = Tensor(storage: storage!, offset: 0, shape: [rows, columns])
        cached = t
        return t
    }
}
