import Foundation
import NN
import Tensors
import Testing

@Suite struct SafeTensorsOutputTests {
    /// The saved file parses by the format's rules, independently of the reader: u64 header length, JSON header with
    /// dtype F32, shapes and contiguous data offsets, then the flat parameter bytes (little-endian fp32).
    @Test func savedWeightsParse() throws {
        let model = Sequential(mlp: [6, 4, 3])
        model.initialize(.heNormal, seed: 4)
        let path = NSTemporaryDirectory() + "cohort-weights-\(UUID().uuidString).safetensors"
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
            Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
        #expect(values == model.parameters.array)

        let other = Sequential(mlp: [6, 4, 3])
        try other.loadSafeTensors(from: path)
        #expect(other.parameters.array == model.parameters.array)
        #expect(throws: SafeTensorsError.self) { try Sequential(mlp: [6, 5, 3]).loadSafeTensors(from: path) }
    }
}
