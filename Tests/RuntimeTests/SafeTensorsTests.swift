import CohortTestSupport
import Foundation
import NN
import Testing

/// The safetensors writer and reader: the byte format itself (checked by hand, in Swift), exact round trips,
/// and refusal of damaged files. Interop with the Python reference runs only where it is installed.
@Suite struct SafeTensorsTests {
    /// Values that a sloppy float path would change: signed zero, infinities, a subnormal, a NaN payload.
    static let tensors = [
        SafeTensor(name: "layer1.weight", shape: [2, 3], values: [1, -2.5, 0.1, -0.0, .infinity, Float.leastNonzeroMagnitude]),
        SafeTensor(name: "layer1.bias", shape: [3], values: [Float(bitPattern: 0x7FC0_1234), 3e38, -1e-30]),
        SafeTensor(name: "empty", shape: [0, 4], values: []),
        SafeTensor(name: "scalar \"quoted\"", shape: [], values: [42]),
    ]
    static let metadata = ["format": "pt", "step": "7", "note": "línea\n2"]

    func u64(_ data: Data, at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[data.startIndex + offset + $1]) << (8 * UInt64($1)) }
    }

    @Test func byteLayoutMatchesTheFormat() throws {
        let data = try SafeTensors.encode(Self.tensors, metadata: Self.metadata)
        let n = Int(u64(data, at: 0))
        #expect(n % 8 == 0, "the header is padded so the data is 8-byte aligned")
        let headerBytes = data.subdata(in: 8..<(8 + n))
        let text = String(decoding: headerBytes, as: UTF8.self)
        #expect(text.hasPrefix("{"))
        let trimmed = text.trimmingCharacters(in: CharacterSet(charactersIn: " "))
        #expect(trimmed.hasSuffix("}"), "only spaces after the JSON object")
        #expect(text.count - trimmed.count < 8)
        let header = try #require(try JSONSerialization.jsonObject(with: headerBytes) as? [String: Any])
        #expect(header["__metadata__"] as? [String: String] == Self.metadata)
        let values = Self.tensors.reduce(0) { $0 + $1.values.count }
        #expect(data.count == 8 + n + 4 * values)
        for tensor in Self.tensors {
            let entry = try #require(header[tensor.name] as? [String: Any], "\(tensor.name)")
            #expect(entry["dtype"] as? String == "F32")
            #expect(entry["shape"] as? [Int] == tensor.shape)
            let offsets = try #require(entry["data_offsets"] as? [Int])
            #expect(offsets[1] - offsets[0] == 4 * tensor.values.count)
            for (i, value) in tensor.values.enumerated() {
                let at = 8 + n + offsets[0] + 4 * i
                let bits = (0..<4).reduce(UInt32(0)) { $0 | UInt32(data[at + $1]) << (8 * UInt32($1)) }
                #expect(bits == value.bitPattern, "\(tensor.name)[\(i)] little-endian bits")
            }
        }
    }

    @Test func roundTripIsBitExact() throws {
        let dir = try TestFiles.scratchDirectory("st")
        defer { TestFiles.cleanup(dir) }
        let path = dir.appendingPathComponent("w.safetensors").path
        try SafeTensors.write(Self.tensors, metadata: Self.metadata, to: path)
        let file = try SafeTensors.read(path: path)
        #expect(file.metadata == Self.metadata)
        #expect(file.tensors.map(\.name) == Self.tensors.map(\.name))
        for tensor in Self.tensors {
            let back = try #require(file[tensor.name])
            #expect(back.shape == tensor.shape)
            #expect(back.values.map(\.bitPattern) == tensor.values.map(\.bitPattern))
        }
    }

    @Test func flatBufferEncodingEqualsPerTensorEncoding() throws {
        let layout = Self.tensors.map { TensorLayout(name: $0.name, shape: $0.shape) }
        let flat = Self.tensors.flatMap(\.values)
        let fromFlat = try flat.withUnsafeBufferPointer {
            try SafeTensors.encode(layout: layout, flat: $0, metadata: Self.metadata)
        }
        #expect(fromFlat == (try SafeTensors.encode(Self.tensors, metadata: Self.metadata)))
        let back = try SafeTensors.decode(fromFlat).flatValues(layout: layout)
        #expect(back.map(\.bitPattern) == flat.map(\.bitPattern))
        var wrong = layout
        wrong[0].shape = [3, 2]
        #expect(throws: SafeTensorsError(file: "w", message: "tensor \"layer1.weight\" has shape [2, 3], expected [3, 2]")) {
            try SafeTensors.decode(fromFlat).flatValues(layout: wrong, file: "w")
        }
        #expect(throws: SafeTensorsError.self) {
            try flat.dropLast().withUnsafeBufferPointer { try SafeTensors.encode(layout: layout, flat: $0) }
        }
    }

    @Test func badInputToTheWriterIsRefused() {
        #expect(throws: SafeTensorsError.self) { try SafeTensors.encode([SafeTensor(name: "a", shape: [2], values: [1])]) }
        #expect(throws: SafeTensorsError.self) {
            try SafeTensors.encode([
                SafeTensor(name: "a", shape: [1], values: [1]), SafeTensor(name: "a", shape: [1], values: [2]),
            ])
        }
        #expect(throws: SafeTensorsError.self) {
            try SafeTensors.encode([SafeTensor(name: "__metadata__", shape: [1], values: [1])])
        }
    }

    /// A file whose header is `json` (padded) followed by `dataBytes` bytes of data.
    static func handMade(_ json: String, dataBytes: Int) -> Data {
        var header = Array(json.utf8)
        header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var data = Data()
        var n = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        data.append(Data(count: dataBytes))
        return data
    }

    struct Damage: Sendable, CustomTestStringConvertible {
        var label: String
        var bytes: @Sendable () throws -> Data
        var message: String
        var testDescription: String { label }
    }

    static let damages: [Damage] = [
        Damage(
            label: "truncated data", bytes: { try SafeTensors.encode(tensors).dropLast(4) },
            message: "run past the end of the data"),
        Damage(
            label: "truncated header", bytes: { try SafeTensors.encode(tensors).prefix(40) },
            message: "runs past the end of the file"),
        Damage(label: "shorter than 8 bytes", bytes: { Data([1, 2, 3]) }, message: "too short"),
        Damage(label: "absurd header length", bytes: { Data(repeating: 0xFF, count: 64) }, message: "larger than the"),
        Damage(label: "header not JSON", bytes: { handMade("{not json", dataBytes: 0) }, message: "not valid JSON"),
        Damage(label: "header a JSON list", bytes: { handMade("[1, 2]", dataBytes: 0) }, message: "not a JSON object"),
        Damage(
            label: "F16 dtype", bytes: { handMade(#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4) },
            message: "dtype F16 is not supported"),
        Damage(
            label: "offsets beyond the data",
            bytes: { handMade(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 4) },
            message: "run past the end of the data"),
        Damage(
            label: "descending offsets",
            bytes: { handMade(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, dataBytes: 4) },
            message: "not an ascending pair"),
        Damage(
            label: "shape and offsets disagree",
            bytes: { handMade(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8) },
            message: "needs 12 bytes"),
        Damage(
            label: "overlapping tensors",
            bytes: {
                handMade(
                    #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                    dataBytes: 12)
            }, message: "gap or overlap"),
        Damage(
            label: "a gap", bytes: { handMade(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8) },
            message: "gap or overlap"),
        Damage(
            label: "trailing bytes",
            bytes: { handMade(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 8) },
            message: "cover 4 bytes"),
        Damage(
            label: "fractional shape",
            bytes: { handMade(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, dataBytes: 4) },
            message: "shape is not a list"),
        Damage(
            label: "metadata not strings", bytes: { handMade(#"{"__metadata__":{"step":7}}"#, dataBytes: 0) },
            message: "is not a string"),
    ]

    @Test(arguments: damages) func damagedFileIsAnErrorNamingTheFile(_ damage: Damage) throws {
        let dir = try TestFiles.scratchDirectory("st-bad")
        defer { TestFiles.cleanup(dir) }
        let path = dir.appendingPathComponent("bad.safetensors").path
        try damage.bytes().write(to: URL(fileURLWithPath: path))
        do {
            _ = try SafeTensors.read(path: path)
            Issue.record("\(damage.label): read succeeded")
        } catch {
            #expect(error.file == path)
            #expect(error.description.hasPrefix(path + ": "))
            #expect(error.message.contains(damage.message), "\(error)")
        }
    }

    @Test func missingFile() {
        #expect(throws: SafeTensorsError(file: "/nonexistent/w.safetensors", message: "no such file")) {
            try SafeTensors.read(path: "/nonexistent/w.safetensors")
        }
    }

    // MARK: the Python reference implementation, where installed

    static let pythonWithSafetensors: String? = {
        guard let python = ProcessRunner.which("python3"),
            let result = try? ProcessRunner.run(python, ["-c", "import safetensors, numpy"], timeout: 30),
            result.status == 0
        else { return nil }
        return python
    }()

    @Test(
        .enabled(
            if: pythonWithSafetensors != nil,
            "python3 with safetensors and numpy is not installed (pip install safetensors numpy)"),
        .timeLimit(.minutes(3)))
    func pythonReadsOurFileAndWeReadItsFile() throws {
        let python = try #require(Self.pythonWithSafetensors)
        let dir = try TestFiles.scratchDirectory("st-py")
        defer { TestFiles.cleanup(dir) }
        let ours = dir.appendingPathComponent("ours.safetensors").path
        let theirs = dir.appendingPathComponent("theirs.safetensors").path
        let tensors = Array(Self.tensors.prefix(3))
        try SafeTensors.write(tensors, metadata: ["format": "pt", "step": "7"], to: ours)
        // Python loads our file, reports names, shapes and exact bits, and writes it back with its own writer.
        let script = """
            import sys, json, numpy as np
            from safetensors import safe_open
            from safetensors.numpy import load_file, save_file
            t = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="np") as f: meta = f.metadata()
            print(json.dumps({"meta": meta, "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape),
                  "bits": [int(b) for b in v.reshape(-1).view(np.uint32)]} for k, v in t.items()}}))
            save_file({k: v * 2 for k, v in t.items()}, sys.argv[2], metadata={"from": "python"})
            """
        let result = try ProcessRunner.run(python, ["-c", script, ours, theirs], timeout: 50)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["meta"] as? [String: String] == ["format": "pt", "step": "7"])
        let seen = try #require(report["tensors"] as? [String: [String: Any]])
        #expect(Set(seen.keys) == Set(tensors.map(\.name)))
        for tensor in tensors {
            #expect(seen[tensor.name]?["dtype"] as? String == "float32")
            #expect(seen[tensor.name]?["shape"] as? [Int] == tensor.shape)
            #expect((seen[tensor.name]?["bits"] as? [Int])?.map(UInt32.init) == tensor.values.map(\.bitPattern))
        }
        let back = try SafeTensors.read(path: theirs)
        #expect(back.metadata == ["from": "python"])
        for tensor in tensors {
            let doubled = try #require(back[tensor.name])
            #expect(doubled.shape == tensor.shape)
            #expect(doubled.values.map(\.bitPattern) == tensor.values.map { ($0 * 2).bitPattern })
        }
    }
}
