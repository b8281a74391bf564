import Foundation
import NN
import Tensors
import Testing

@Suite struct SafeTensorsOutputTests {
    /// The saved file parses by the format's rules, independently of the reader: u64 header length, JSON header with
    /// dtype F32, PyTorch names and shapes ([out, in] weights) and contiguous data offsets, then the values
    /// (little-endian fp32), the weights being the transposed kernels.
    @Test func savedWeightsParse() throws {
        let model = Sequential(mlp: [6, 4, 3])
        model.initialize(.heNormal, seed: 4)
        let path = NSTemporaryDirectory() + "cohort-weights-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.saveSafeTensors(to: path, metadata: ["producer": "test"])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        #expect(n % 8 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        let expected: [(String, [Int])] = [("0.weight", [4, 6]), ("0.bias", [4]), ("2.weight", [3, 4]), ("2.bias", [3])]
        var offset = 0
        for (name, shape) in expected {
            let entry = try #require(header[name] as? [String: Any], "missing \(name)")
            #expect(entry["dtype"] as? String == "F32")
            #expect(entry["shape"] as? [Int] == shape)
            let size = shape.reduce(4, *)
            #expect(entry["data_offsets"] as? [Int] == [offset, offset + size])
            offset += size
        }
        #expect((header["__metadata__"] as? [String: String])?["producer"] == "test")
        #expect(bytes.count == 8 + n + offset)
        let values = stride(from: 8 + n, to: bytes.count, by: 4).map { i in
            Float(
                bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            )
        }
        let first = model.layers[0] as! Dense
        #expect(values[1 * 6 + 5] == first.kernel[5, 1])  // weight[o=1, i=5] = kernel[i=5, o=1]
        #expect(Array(values[24..<28]) == first.bias.array)

        let other = Sequential(mlp: [6, 4, 3])
        try other.loadSafeTensors(from: path)
        #expect(other.parameters.array == model.parameters.array)
        #expect(throws: SafeTensorsError.self) { try Sequential(mlp: [6, 5, 3]).loadSafeTensors(from: path) }
        #expect(throws: SafeTensorsError.self) { try Sequential(mlp: [6, 4, 3, 2]).loadSafeTensors(from: path) }
    }

    /// The stored layout (flat buffer, "kernel" names) round-trips through the flat encoder checkpoints use.
    @Test func storedLayoutRoundTrips() throws {
        let model = Sequential(mlp: [5, 3, 2])
        model.initialize(.xavierUniform, seed: 2)
        #expect(model.parameterLayout.map(\.name) == ["0.kernel", "0.bias", "2.kernel", "2.bias"])
        let data = try SafeTensors.encode(layout: model.parameterLayout, flat: UnsafeBufferPointer(model.parameters.buffer))
        let path = NSTemporaryDirectory() + "cohort-flat-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try data.write(to: URL(fileURLWithPath: path))
        let other = Sequential(mlp: [5, 3, 2])
        try other.loadSafeTensors(from: path)
        #expect(other.parameters.array == model.parameters.array)
    }
}
