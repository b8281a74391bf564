import Foundation
import NN

/// The int8 model file (`QuantizedModelFile`'s format) of a quantized model, as `cohort compress quantize` and
/// `cohort compress report` write it, and the QAT scales an fp32 file can carry for it.
public enum Int8ModelExport {
    /// The fp32 file's metadata key under which `cohort train` stores QAT's activation scales ("i:scale,…", i the
    /// Dense's index in the file's names).
    public static let qatScalesKey = "qat_input_scales"

    /// Writes `q` (the int8 conversion of `source.model`) to `path` with the source's metadata plus `extra`.
    /// Returns the file's size in bytes.
    @discardableResult
    public static func write(_ q: Sequential, source: ModelFile, metadata extra: [String: String], to path: String) throws
        -> Int
    {
        var meta = source.metadata.merging(extra) { _, new in new }
        meta["quantization"] = "int8"
        meta[qatScalesKey] = nil
        let dense = q.layers.compactMap { $0 as? QuantizedDense }
        meta["relu_fused"] = zip(dense, source.denseIndices).filter { $0.0.fusedReLU }.map { String($0.1) }.joined(
            separator: ",")
        try SafeTensors.write(QuantizedModelFile.tensors(q, denseIndices: source.denseIndices), metadata: meta, to: path)
        return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// QAT's input scales from `source`'s metadata, keyed by the index of each Dense in `source.model` (what
    /// `PostTrainingQuantization.quantize(_:inputScales:)` takes); nil when the file has none. A malformed entry
    /// or one per Dense missing is an error naming the file and the key.
    public static func qatScales(_ source: ModelFile) throws -> [Int: Float]? {
        guard let text = source.metadata[qatScalesKey] else { return nil }
        let fail = { (why: String) in
            SafeTensorsError(file: source.path, message: "__metadata__ \"\(qatScalesKey)\" \"\(text)\": \(why)")
        }
        var byFileIndex: [Int: Float] = [:]
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: ":")
            guard parts.count == 2, let i = Int(parts[0]), let s = Float(parts[1]), s > 0 && s.isFinite else {
                throw fail("entry \"\(entry)\" is not index:positive-scale")
            }
            byFileIndex[i] = s
        }
        let modelIndices = source.model.layers.indices.filter { source.model.layers[$0] is Dense }
        var scales: [Int: Float] = [:]
        for (fileIndex, modelIndex) in zip(source.denseIndices, modelIndices) {
            guard let s = byFileIndex[fileIndex] else { throw fail("no scale for layer \(fileIndex)") }
            scales[modelIndex] = s
        }
        return scales
    }
}
