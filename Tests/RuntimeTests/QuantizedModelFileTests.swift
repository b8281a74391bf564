import Foundation
import NN
import Tensors
import Testing
import Training

@Suite struct QuantizedModelFileTests {
    private static let meta = ["layers": "20,16,8,4", "activation": "relu", "dataset": "synthetic-train", "seed": "3"]

    private func batch(_ rows: Int, seed: UInt64) -> Tensor {
        var rng = Xoshiro256(seed: seed)
        let t = Tensor(shape: [rows, 20])
        for i in 0..<t.count { t.pointer[i] = rng.nextUnitFloat() * 2 - 1 }
        return t
    }

    /// fp32 file → quantize → int8 file → `ModelFile.load`: the loaded model is int8, its outputs equal the
    /// in-memory quantized model's bit for bit, and the fp32 file still loads as fp32 with the same outputs.
    @Test func int8FileRoundTrip() throws {
        let dir = try TestFiles.scratchDirectory("int8file")
        defer { TestFiles.cleanup(dir) }
        let model = Sequential(mlp: [20, 16, 8, 4])
        model.initialize(.heNormal, seed: 2)
        let fp32Path = dir.appendingPathComponent("m.safetensors").path
        try model.saveSafeTensors(to: fp32Path, metadata: Self.meta)
        let q = try PostTrainingQuantization.quantize(model, calibration: [batch(64, seed: 1)])
        var meta = Self.meta
        meta["quantization"] = "int8"
        meta["relu_fused"] = "0,2"
        let int8Path = dir.appendingPathComponent("q.safetensors").path
        try SafeTensors.write(QuantizedModelFile.tensors(q, denseIndices: [0, 2, 4]), metadata: meta, to: int8Path)

        let loaded = try ModelFile.load(int8Path)
        #expect(loaded.format == .int8)
        let x = batch(10, seed: 7)
        #expect(loaded.model.forward(x, training: false).array == q.forward(x, training: false).array)
        let fp32 = try ModelFile.load(fp32Path)
        #expect(fp32.format == .fp32)
        #expect(fp32.model.forward(x, training: false).array == model.forward(x, training: false).array)
        #expect(loaded.bytes < fp32.bytes)
    }

    /// Corrupt int8 files fail with one line naming the file and the tensor: a weight stored as F32, a missing
    /// scale, a zero scale, a weight of the wrong shape, and a truncated file.
    @Test func corruptInt8FilesAreOneLineErrors() throws {
        let dir = try TestFiles.scratchDirectory("int8bad")
        defer { TestFiles.cleanup(dir) }
        let model = Sequential(mlp: [20, 16, 8, 4])
        model.initialize(.heNormal, seed: 2)
        let q = try PostTrainingQuantization.quantize(model, calibration: [batch(64, seed: 1)])
        let good = QuantizedModelFile.tensors(q, denseIndices: [0, 2, 4])
        var meta = Self.meta
        meta["quantization"] = "int8"
        meta["relu_fused"] = "0,2"
        func write(_ tensors: [SafeTensor], _ name: String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try SafeTensors.write(tensors, metadata: meta, to: path)
            return path
        }
        var asF32 = good
        asF32[0].dtype = .f32
        var noScale = good
        noScale.remove(at: 1)
        var zeroScale = good
        zeroScale[2].values = [0]
        var wrongShape = good
        wrongShape[4].shape = [16, 8]
        wrongShape[4].values = Array(wrongShape[4].values.prefix(128))
        let cases: [(String, String)] = [
            (try write(asF32, "f32.safetensors"), "\"0.weight\" is F32 [16, 20], expected I8"),
            (try write(noScale, "noscale.safetensors"), "no tensor \"0.weight_scale\""),
            (try write(zeroScale, "zero.safetensors"), "scale 0.0 is not a positive finite number"),
            (try write(wrongShape, "shape.safetensors"), "\"2.weight\" is I8 [16, 8], expected I8 [8, 16]"),
        ]
        for (path, expected) in cases {
            do {
                _ = try ModelFile.load(path)
                Issue.record("\(path) loaded")
            } catch {
                let text = "\(error)"
                #expect(text.hasPrefix(path + ": ") && text.contains(expected) && !text.contains("\n"), "\(text)")
            }
        }
        let good8 = try write(good, "good.safetensors")
        let data = try Data(contentsOf: URL(fileURLWithPath: good8))
        let truncated = dir.appendingPathComponent("cut.safetensors").path
        try data.prefix(data.count - 5).write(to: URL(fileURLWithPath: truncated))
        #expect(throws: SafeTensorsError.self) { _ = try ModelFile.load(truncated) }
        do { _ = try ModelFile.load(truncated) } catch { #expect("\(error)".hasPrefix(truncated + ": ")) }
    }
}
