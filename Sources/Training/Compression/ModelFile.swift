import Config
import Datasets
import Foundation
import NN

/// A model file written by `cohort train` (fp32), `cohort compress prune` (fp32, metadata "pruning") or
/// `cohort compress quantize` (int8), loaded as a runnable `Sequential`. The MLP's shape comes from the file's
/// metadata ("layers", "activation", as `cohort train` writes them), its weights from the tensors, and its input
/// standardisation from "input_mean"/"input_std", so evaluation sees the inputs training saw.
public struct ModelFile {
    public enum Format: String, Sendable { case fp32, int8, pruned }

    public let path: String
    public let format: Format
    public let model: Sequential
    public let metadata: [String: String]
    public let widths: [Int]
    public let activation: Activation
    /// The fp32 model index of each Dense layer, in order (names "i.weight" in the file).
    public let denseIndices: [Int]
    /// Bytes of the file.
    public let bytes: Int

    public static func load(_ path: String) throws -> ModelFile {
        let file = try SafeTensors.read(path: path)
        let meta = file.metadata
        let fail = { (message: String) in SafeTensorsError(file: path, message: message) }
        guard let text = meta["layers"], case let widths = text.split(separator: ",").compactMap({ Int($0) }),
            widths.count >= 2, widths.count == text.split(separator: ",").count, widths.allSatisfy({ $0 > 0 })
        else {
            throw fail("__metadata__ \"layers\" (the MLP's widths, e.g. 784,256,10) is missing or malformed")
        }
        guard let activation = Activation(rawValue: meta["activation"] ?? "relu") else {
            throw fail("__metadata__ \"activation\" \"\(meta["activation"] ?? "")\" is not relu, sigmoid, tanh or gelu")
        }
        let indices = Set(file.tensors.compactMap { $0.name.split(separator: ".").first.flatMap { Int($0) } }).sorted()
        guard indices.count == widths.count - 1 else {
            throw fail("\(indices.count) layers of tensors for the \(widths.count - 1) Dense layers of \(text)")
        }
        let int8 = meta["quantization"] == "int8" || file.tensors.contains { $0.dtype == .i8 }
        let model =
            int8
            ? try quantizedModel(file, path: path, widths: widths, activation: activation, indices: indices)
            : try fp32Model(file, path: path, widths: widths, activation: activation, indices: indices)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return ModelFile(
            path: path, format: int8 ? .int8 : (meta["pruning"] != nil ? .pruned : .fp32), model: model, metadata: meta,
            widths: widths, activation: activation, denseIndices: indices, bytes: size)
    }

    static func fp32Model(
        _ file: SafeTensorsFile, path: String, widths: [Int], activation: Activation, indices: [Int]
    ) throws -> Sequential {
        let model = Sequential(mlp: widths, activation: activation)
        let dense = model.layers.compactMap { $0 as? Dense }
        let byName = Dictionary(file.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (layer, i) in zip(dense, indices) {
            for name in ["weight", "bias"] {
                guard let t = byName["\(i).\(name)"] else {
                    throw SafeTensorsError(file: path, message: "no tensor \"\(i).\(name)\"")
                }
                guard t.dtype == .f32, layer.importParameter(name: name, shape: t.shape, values: t.values) else {
                    throw SafeTensorsError(
                        file: path,
                        message:
                            "tensor \"\(t.name)\" \(t.dtype.rawValue) \(t.shape) does not fit Dense(\(layer.inputs), \(layer.outputs))"
                    )
                }
            }
        }
        return model
    }

    static func quantizedModel(
        _ file: SafeTensorsFile, path: String, widths: [Int], activation: Activation, indices: [Int]
    ) throws -> Sequential {
        let fused = Set((file.metadata["relu_fused"] ?? "").split(separator: ",").compactMap { Int($0) })
        var layers: [Layer] = []
        for (k, i) in indices.enumerated() {
            let isLast = k == indices.count - 1
            if fused.contains(i) && (isLast || activation != .relu) {
                throw SafeTensorsError(
                    file: path, message: "__metadata__ \"relu_fused\" names layer \(i), which has no ReLU after it")
            }
            layers.append(
                try QuantizedModelFile.dense(
                    index: i, inputs: widths[k], outputs: widths[k + 1], fusedReLU: fused.contains(i), file: file, path: path))
            if !isLast && !fused.contains(i) { layers.append(activation.makeLayer()) }
        }
        return Sequential(layers, inputFeatures: widths[0])
    }

    /// The standardisation training applied, from the metadata (nil when it had none).
    public var standardizer: Standardizer? {
        guard let m = metadata["input_mean"].flatMap(Float.init), let s = metadata["input_std"].flatMap(Float.init), s > 0 else {
            return nil
        }
        return Standardizer(mean: m, std: s)
    }

    /// The data set the model was trained on (from "dataset" metadata: fashion-mnist-train, synthetic-train), with
    /// the file's standardisation applied; `dataPath` overrides the Fashion-MNIST folder.
    public func loadData(dataPath: String?) throws -> JobData {
        var job = JobSpec()
        job.model.layers = widths
        job.model.activation = activation.rawValue
        let dataset = metadata["dataset"] ?? "fashion-mnist-train"
        job.data.dataset = dataset.hasPrefix("synthetic") ? "synthetic" : "fashion-mnist"
        job.data.path = dataPath
        job.data.standardize = false
        job.data.syntheticFallback = false
        if let seed = metadata["seed"].flatMap(UInt64.init) { job.seed = seed }
        var data = try job.loadData()
        if let s = standardizer {
            s.apply(to: data.train)
            s.apply(to: data.test)
            data.standardizer = s
        }
        return data
    }
}
