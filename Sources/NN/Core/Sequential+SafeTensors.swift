import Foundation
import Tensors

/// Saving and loading a model's weights as safetensors.
///
/// Two layouts:
///  - `saveSafeTensors` / `loadSafeTensors`: PyTorch's names and orientation ("0.weight" [out, in], "0.bias" [out],
///    "2.weight", …), the state_dict keys of an `nn.Sequential` of the same layers, so
///    `model.load_state_dict(safetensors.torch.load_file(path))` works. Costs one transpose per Dense on save/load.
///  - `parameterLayout` + `parameters`: the flat buffer exactly as stored ("0.kernel" [in, out], …), for checkpoints
///    that write the buffer without copying (`SafeTensors.encode(layout:flat:)`). The different name ("kernel",
///    Keras/Flax's word for the [in, out] matrix) keeps the two orientations from being confused.
extension Sequential {
    /// The names and shapes of the flat buffer as stored, in order.
    public var parameterLayout: [TensorLayout] {
        namedParameters.map { TensorLayout(name: $0.name, shape: $0.tensor.shape) }
    }

    /// The names and shapes of `buffers` as stored, in order (empty for a model without buffers).
    public var bufferLayout: [TensorLayout] {
        namedBuffers.map { TensorLayout(name: $0.name, shape: $0.tensor.shape) }
    }

    /// The weights as PyTorch-named tensors, each layer's buffers (PyTorch's "1.running_mean", …) after its
    /// parameters as in a state_dict.
    public var exportedTensors: [SafeTensor] {
        layers.enumerated().flatMap { i, layer in
            (layer.exportedParameters + layer.namedBuffers.map { ($0.name, $0.tensor.shape, $0.tensor.array) }).map {
                SafeTensor(name: "\(i).\($0.name)", shape: $0.shape, values: $0.values)
            }
        }
    }

    public func safeTensorsData(metadata: [String: String] = [:]) throws -> Data {
        try SafeTensors.encode(exportedTensors, metadata: metadata)
    }

    public func saveSafeTensors(to path: String, metadata: [String: String] = [:]) throws {
        try SafeTensors.write(exportedTensors, metadata: metadata, to: path)
    }

    /// Loads weights saved by `saveSafeTensors` (or by PyTorch with the same names and shapes), or a file of the
    /// stored layout. Every parameter of the model must be set exactly once, and nothing may be left over.
    public func loadSafeTensors(from path: String) throws {
        let file = try SafeTensors.read(path: path)
        var expected = Set(
            layers.enumerated().flatMap { i, layer in
                (layer.namedParameters + layer.namedBuffers).map { "\(i).\($0.name)" }
            })
        for tensor in file.tensors {
            guard tensor.dtype == .f32 else {
                throw SafeTensorsError(
                    file: path, message: "tensor \"\(tensor.name)\" is \(tensor.dtype.rawValue): an int8 model, not fp32 weights")
            }
            let parts = tensor.name.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, let i = Int(parts[0]), i >= 0, i < layers.count,
                layers[i].importParameter(name: String(parts[1]), shape: tensor.shape, values: tensor.values)
            else {
                throw SafeTensorsError(file: path, message: "tensor \"\(tensor.name)\" \(tensor.shape) does not fit this model")
            }
            // Dense stores "kernel" [in, out] and exports "weight" [out, in]; conv and norm layers store "weight" as is.
            let stored = String(parts[1]) == "weight" && !expected.contains(tensor.name) ? "\(i).kernel" : tensor.name
            guard expected.remove(stored) != nil else {
                throw SafeTensorsError(file: path, message: "tensor \"\(tensor.name)\" given twice")
            }
        }
        if let missing = expected.sorted().first {
            throw SafeTensorsError(file: path, message: "no tensor for parameter \"\(missing)\"")
        }
    }
}
