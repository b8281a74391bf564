import Foundation
import Tensors

/// A quantization request that cannot be carried out, on one line.
public struct QuantizationError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Post-training int8 quantization of an MLP (Dense layers with element-wise activations between them):
/// per-output-channel symmetric weights, and one activation scale per Dense input calibrated on `calibration`
/// batches run through the fp32 model. A Dense followed by ReLU becomes one `QuantizedDense` with the ReLU fused
/// into its store. Other layers (activations, dropout, which is the identity at inference) are kept.
public enum PostTrainingQuantization {
    public static func quantize(
        _ model: Sequential, calibration: [Tensor], method: CalibrationMethod = .minMax
    ) throws -> Sequential {
        guard !calibration.isEmpty else {
            throw QuantizationError("calibration needs at least 1 batch, got 0")
        }
        if case .percentile(let p) = method, !(p > 0 && p <= 100) {
            throw QuantizationError("calibration percentile \(p) is not in (0, 100]")
        }
        let observers = observe(model, calibration)
        var scales: [Int: Float] = [:]
        for (i, layer) in model.layers.enumerated() where layer is Dense { scales[i] = observers[i].scale(method) }
        return try quantize(model, inputScales: scales)
    }

    /// The same conversion with given per-tensor input scales (model index → scale), e.g. those quantization-aware
    /// training learned with its observers (PyTorch's `convert` after QAT). Every Dense needs a positive finite one.
    public static func quantize(_ model: Sequential, inputScales: [Int: Float]) throws -> Sequential {
        var layers: [Layer] = []
        var i = 0
        while i < model.layers.count {
            let layer = model.layers[i]
            guard let dense = layer as? Dense else {
                guard layer.parameterCount == 0 else {
                    throw QuantizationError("layer \(i) (\(layer.kind)): only Dense layers with parameters can be quantized")
                }
                layers.append(layer)
                i += 1
                continue
            }
            guard let scale = inputScales[i], scale > 0 && scale.isFinite else {
                throw QuantizationError(
                    "layer \(i) (dense): no positive finite input scale (\(inputScales[i].map { "\($0)" } ?? "none"))")
            }
            let fuse = i + 1 < model.layers.count && model.layers[i + 1] is ReLU
            layers.append(
                QuantizedDense(
                    weights: ChannelQuantizedWeights(kernel: dense.kernel), bias: dense.bias.array,
                    inputScale: scale, fusedReLU: fuse))
            i += fuse ? 2 : 1
        }
        return Sequential(layers, inputFeatures: model.inputFeatures)
    }

    /// Each Dense layer's input range over the calibration batches (indexed by layer; others unused).
    static func observe(_ model: Sequential, _ batches: [Tensor]) -> [ActivationObserver] {
        var observers = [ActivationObserver](repeating: ActivationObserver(), count: model.layers.count)
        for x in batches {
            var h = x
            for (i, layer) in model.layers.enumerated() {
                if layer is Dense { observers[i].observe(h) }
                h = layer.forward(h, training: false)
            }
        }
        return observers
    }
}
