import Foundation
import Tensors

/// The int8 model file: safetensors with, for the Dense layer at model index i (the fp32 model's numbering, so
/// names match the fp32 file's "i.weight"/"i.bias"):
///   "i.weight"       I8  [out, in]  per-channel symmetric int8 weights (PyTorch's orientation)
///   "i.weight_scale" F32 [out]      w ≈ weight_scale[o] · weight[o, i]
///   "i.input_scale"  F32 [1]        x ≈ input_scale · clamp(round(x / input_scale), −127, 127)
///   "i.bias"         F32 [out]
/// and `__metadata__` "quantization" = "int8" (what `cohort eval` reads the format from), "relu_fused" = the
/// indices whose following ReLU runs in the Dense's store, plus the fp32 file's metadata (layers, activation,
/// input_mean, input_std, ...). README "Compressed models" documents the same.
public enum QuantizedModelFile {
    /// The tensors of `model` (QuantizedDense layers, named by `denseIndices`: each one's index in the fp32 model).
    public static func tensors(_ model: Sequential, denseIndices: [Int]) -> [SafeTensor] {
        let dense = model.layers.compactMap { $0 as? QuantizedDense }
        precondition(dense.count == denseIndices.count, "QuantizedModelFile: one index per QuantizedDense")
        return zip(dense, denseIndices).flatMap { layer, i -> [SafeTensor] in
            let w = layer.weights
            var t = [Float](repeating: 0, count: w.inputs * w.outputs)
            for r in 0..<w.inputs { for o in 0..<w.outputs { t[o * w.inputs + r] = Float(w.values[r * w.outputs + o]) } }
            return [
                SafeTensor(name: "\(i).weight", shape: [w.outputs, w.inputs], values: t, dtype: .i8),
                SafeTensor(name: "\(i).weight_scale", shape: [w.outputs], values: w.scales),
                SafeTensor(name: "\(i).input_scale", shape: [1], values: [layer.inputScale]),
                SafeTensor(name: "\(i).bias", shape: [w.outputs], values: layer.bias),
            ]
        }
    }

    /// The QuantizedDense of fp32 index `i` from `file` (at `path`, named in every error): every tensor present
    /// with the right dtype and shape, scales positive and finite.
    public static func dense(
        index i: Int, inputs: Int, outputs: Int, fusedReLU: Bool, file: SafeTensorsFile, path: String
    ) throws -> QuantizedDense {
        func tensor(_ name: String, _ dtype: SafeTensorDType, _ shape: [Int]) throws -> [Float] {
            guard let t = file["\(i).\(name)"] else {
                throw SafeTensorsError(file: path, message: "no tensor \"\(i).\(name)\" (an int8 model needs it)")
            }
            guard t.dtype == dtype, t.shape == shape else {
                throw SafeTensorsError(
                    file: path,
                    message: "tensor \"\(t.name)\" is \(t.dtype.rawValue) \(t.shape), expected \(dtype.rawValue) \(shape)")
            }
            return t.values
        }
        let w = try tensor("weight", .i8, [outputs, inputs])
        let scales = try tensor("weight_scale", .f32, [outputs])
        let inputScale = try tensor("input_scale", .f32, [1])[0]
        let bias = try tensor("bias", .f32, [outputs])
        if let bad = (scales + [inputScale]).first(where: { !($0 > 0 && $0.isFinite) }) {
            throw SafeTensorsError(file: path, message: "layer \(i): scale \(bad) is not a positive finite number")
        }
        guard w.allSatisfy({ $0 >= -127 }) else {
            throw SafeTensorsError(file: path, message: "tensor \"\(i).weight\": −128 is outside the symmetric int8 range")
        }
        var values = [Int8](repeating: 0, count: inputs * outputs)
        for o in 0..<outputs { for r in 0..<inputs { values[r * outputs + o] = Int8(w[o * inputs + r]) } }
        return QuantizedDense(
            weights: ChannelQuantizedWeights(inputs: inputs, outputs: outputs, values: values, scales: scales),
            bias: bias, inputScale: inputScale, fusedReLU: fusedReLU)
    }
}
