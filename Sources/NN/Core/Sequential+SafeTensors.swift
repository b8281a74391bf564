import Foundation
import Tensors

/// Saving and loading a model's weights as safetensors, straight from/into the flat parameter buffer.
/// Tensor names are `namedParameters`' ("0.weight" [out, in], "0.bias" [out], "2.weight", …): the keys of a PyTorch
/// `nn.Sequential` of the same layers, so `model.load_state_dict(safetensors.torch.load_file(path))` works.
extension Sequential {
    /// The names and shapes of the parameters, in flat-buffer order.
    public var parameterLayout: [TensorLayout] {
        namedParameters.map { TensorLayout(name: $0.name, shape: $0.tensor.shape) }
    }

    public func safeTensorsData(metadata: [String: String] = [:]) throws -> Data {
        try SafeTensors.encode(layout: parameterLayout, flat: UnsafeBufferPointer(parameters.buffer), metadata: metadata)
    }

    public func saveSafeTensors(to path: String, metadata: [String: String] = [:]) throws {
        let data = try safeTensorsData(metadata: metadata)
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw SafeTensorsError(file: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Loads weights saved by `saveSafeTensors` (or PyTorch with the same names and shapes) into the flat buffer.
    public func loadSafeTensors(from path: String) throws {
        let file = try SafeTensors.read(path: path)
        load(try file.flatValues(layout: parameterLayout, file: path))
    }
}
