import Foundation

/// Model weights in the safetensors format (https://github.com/huggingface/safetensors), so a checkpoint can be
/// opened by PyTorch, NumPy or any other tool without Cohort. fp32 ("F32") tensors, which is all Cohort trains, and
/// int8 ("I8") ones for quantized weights (held in memory as the Float of each integer).
///
/// Layout: an 8-byte little-endian header length N; N bytes of UTF-8 JSON
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}}`,
/// padded with spaces to a multiple of 8 so the data that follows is aligned; then the tensors' bytes back to back
/// (little-endian), offsets relative to the start of that data. Reading checks all of it and names the file on failure.
public enum SafeTensors {
    /// Headers larger than this are refused (the reference implementation's limit): a corrupt length must not
    /// make us allocate gigabytes.
    public static let maximumHeaderSize = 100_000_000

    // MARK: writing

    /// Encodes tensors in the given order (names must be unique and not `__metadata__`).
    public static func encode(_ tensors: [SafeTensor], metadata: [String: String] = [:]) throws(SafeTensorsError) -> Data {
        let layout = tensors.map { TensorLayout(name: $0.name, shape: $0.shape, dtype: $0.dtype) }
        for tensor in tensors where tensor.values.count != tensor.elementCount {
            throw SafeTensorsError(
                file: "<memory>",
                message:
                    "tensor \"\(tensor.name)\" has \(tensor.values.count) values but shape \(tensor.shape) needs \(tensor.elementCount)"
            )
        }
        var data = try header(layout, metadata: metadata)
        for tensor in tensors {
            switch tensor.dtype {
            case .f32: tensor.values.withUnsafeBufferPointer { appendLittleEndian($0, to: &data) }
            case .i8: try appendInt8(tensor, to: &data)
            }
        }
        return data
    }

    /// Encodes tensors that lie back to back in one flat buffer (a model's parameter buffer) without copying them
    /// into separate arrays first. `flat.count` must equal the sum of the layout's element counts.
    public static func encode(
        layout: [TensorLayout], flat: UnsafeBufferPointer<Float>,
        metadata: [String: String] = [:]
    ) throws(SafeTensorsError) -> Data {
        let needed = layout.reduce(0) { $0 + $1.elementCount }
        guard layout.allSatisfy({ $0.dtype == .f32 }) else {
            throw SafeTensorsError(file: "<memory>", message: "a flat fp32 buffer can only be written as F32 tensors")
        }
        guard needed == flat.count else {
            throw SafeTensorsError(
                file: "<memory>", message: "the layout needs \(needed) values but the buffer holds \(flat.count)")
        }
        var data = try header(layout, metadata: metadata)
        appendLittleEndian(flat, to: &data)
        return data
    }

    /// Encodes and writes to `path` (plainly; atomic replacement is the checkpoint layer's job).
    public static func write(_ tensors: [SafeTensor], metadata: [String: String] = [:], to path: String) throws(SafeTensorsError)
    {
        let data = try encode(tensors, metadata: metadata)
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw SafeTensorsError(file: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    private static func header(_ layout: [TensorLayout], metadata: [String: String]) throws(SafeTensorsError) -> Data {
        var names = Set<String>()
        var json = "{"
        var offset = 0
        var first = true
        if !metadata.isEmpty {
            // Sorted so the same checkpoint always has the same bytes (and the same checksum).
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            json += "\"__metadata__\":{" + pairs.joined(separator: ",") + "}"
            first = false
        }
        for tensor in layout {
            guard tensor.name != "__metadata__", !tensor.name.isEmpty else {
                throw SafeTensorsError(file: "<memory>", message: "\"\(tensor.name)\" cannot be a tensor name")
            }
            guard names.insert(tensor.name).inserted else {
                throw SafeTensorsError(file: "<memory>", message: "tensor name \"\(tensor.name)\" is used twice")
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
                throw SafeTensorsError(
                    file: "<memory>", message: "tensor \"\(tensor.name)\" has a negative dimension in \(tensor.shape)")
            }
            let bytes = tensor.elementCount * tensor.dtype.size
            if !first { json += "," }
            first = false
            json +=
                "\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        json += "}"
        var headerBytes = Array(json.utf8)
        let padding = (8 - headerBytes.count % 8) % 8
        headerBytes += Array(repeating: UInt8(ascii: " "), count: padding)
        var data = Data(capacity: 8 + headerBytes.count + offset)
        var length = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        return data
    }

    private static func appendLittleEndian(_ values: UnsafeBufferPointer<Float>, to data: inout Data) {
        #if _endian(little)
            data.append(
                UnsafeBufferPointer(
                    start: UnsafeRawPointer(values.baseAddress)?.assumingMemoryBound(to: UInt8.self),
                    count: values.count * MemoryLayout<Float>.size))
        #else
            for value in values {
                var bits = value.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
            }
        #endif
    }

    /// An I8 tensor's values, each an integer in −128…127 (anything else is a caller's bug worth an error, not a
    /// silent wrap).
    private static func appendInt8(_ tensor: SafeTensor, to data: inout Data) throws(SafeTensorsError) {
        var bytes = [UInt8](repeating: 0, count: tensor.values.count)
        for (i, v) in tensor.values.enumerated() {
            guard v >= -128, v <= 127, v.rounded() == v else {
                throw SafeTensorsError(
                    file: "<memory>", message: "tensor \"\(tensor.name)\" is I8 but value \(i) is \(v), not an int8")
            }
            bytes[i] = UInt8(bitPattern: Int8(v))
        }
        data.append(contentsOf: bytes)
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: reading

    /// Reads and validates a file; every failure is a `SafeTensorsError` naming `path`.
    public static func read(path: String) throws(SafeTensorsError) -> SafeTensorsFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SafeTensorsError(
                file: path, message: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        return try decode(data, file: path)
    }

    /// Decodes and validates safetensors bytes; `file` names them in errors.
    public static func decode(_ data: Data, file: String = "<memory>") throws(SafeTensorsError) -> SafeTensorsFile {
        let decoder = SafeTensorsDecoder(file: file)
        let (header, dataStart) = try decoder.header(data)
        let dataLength = data.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [SafeTensorsDecoder.Entry] = []
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = try decoder.metadata(value)
            } else {
                entries.append(try decoder.entry(name, value, dataLength: dataLength))
            }
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        try decoder.checkTiling(entries, dataLength: dataLength)
        let tensors = entries.map { entry in
            let start = data.startIndex + dataStart + entry.begin
            let count = (entry.end - entry.begin) / entry.dtype.size
            return SafeTensor(
                name: entry.name, shape: entry.shape,
                values: entry.dtype == .f32 ? floats(data, from: start, count: count) : int8s(data, from: start, count: count),
                dtype: entry.dtype)
        }
        return SafeTensorsFile(tensors: tensors, metadata: metadata)
    }

    static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            // JSONSerialization gives NSNumber; reject fractions that a lenient conversion might truncate.
            guard let number = value as? NSNumber, let int = value as? Int, Double(int) == number.doubleValue else { return nil }
            result.append(int)
        }
        return result
    }

    private static func int8s(_ data: Data, from start: Int, count: Int) -> [Float] {
        let base = start - data.startIndex
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Float] in
            (0..<count).map { Float(Int8(bitPattern: raw[base + $0])) }
        }
    }

    private static func floats(_ data: Data, from start: Int, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            data.withUnsafeBytes { raw in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[(start - data.startIndex)...].prefix(count * 4))
                #if _endian(little)
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
                #else
                    for i in 0..<count {
                        buffer[i] = Float(
                            bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    }
                #endif
            }
            initialized = count
        }
    }
}

/// A tensor's name and shape, without values: how a model describes its parameters.
public struct TensorLayout: Hashable, Sendable {
    public var name: String
    public var shape: [Int]
    public var dtype: SafeTensorDType
    public init(name: String, shape: [Int], dtype: SafeTensorDType = .f32) {
        self.dtype = dtype
        self.name = name
        self.shape = shape
    }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// The element types Cohort reads and writes.
public enum SafeTensorDType: String, Hashable, Sendable {
    case f32 = "F32"
    case i8 = "I8"

    /// Bytes per element.
    public var size: Int { self == .f32 ? 4 : 1 }
}

/// A named tensor: shape and row-major values (an I8 tensor's values are the Floats of its integers).
public struct SafeTensor: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    public var dtype: SafeTensorDType
    public init(name: String, shape: [Int], values: [Float], dtype: SafeTensorDType = .f32) {
        self.dtype = dtype
        self.name = name
        self.shape = shape
        self.values = values
    }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// The contents of a safetensors file: tensors in data order and the `__metadata__` strings.
public struct SafeTensorsFile: Equatable, Sendable {
    public var tensors: [SafeTensor]
    public var metadata: [String: String]

    public init(tensors: [SafeTensor], metadata: [String: String]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public subscript(name: String) -> SafeTensor? { tensors.first { $0.name == name } }

    /// The values of the tensors in `layout` order, back to back: a model's flat parameter buffer. Fails (naming
    /// `file`) when a tensor is missing or has another shape, so weights of a different model are never loaded.
    public func flatValues(layout: [TensorLayout], file: String = "<memory>") throws(SafeTensorsError) -> [Float] {
        var result: [Float] = []
        result.reserveCapacity(layout.reduce(0) { $0 + $1.elementCount })
        for entry in layout {
            guard let tensor = self[entry.name] else {
                throw SafeTensorsError(file: file, message: "tensor \"\(entry.name)\" is missing")
            }
            guard tensor.dtype == entry.dtype else {
                throw SafeTensorsError(
                    file: file, message: "tensor \"\(entry.name)\" is \(tensor.dtype.rawValue), expected \(entry.dtype.rawValue)")
            }
            guard tensor.shape == entry.shape else {
                throw SafeTensorsError(
                    file: file, message: "tensor \"\(entry.name)\" has shape \(tensor.shape), expected \(entry.shape)")
            }
            result += tensor.values
        }
        return result
    }
}

/// A safetensors file that cannot be written or read, on one line: `FILE: MESSAGE`.
public struct SafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public var file: String
    public var message: String
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
    public var errorDescription: String? { description }
}

/// The checks of `SafeTensorsFile.decode`, one per part of the file, each failing with a message naming the file.
struct SafeTensorsDecoder {
    let file: String

    struct Entry {
        let name: String
        let shape: [Int]
        let dtype: SafeTensorDType
        let begin: Int
        let end: Int
    }

    func fail(_ message: String) -> SafeTensorsError { SafeTensorsError(file: file, message: message) }

    /// The JSON header and where the tensor data starts.
    func header(_ data: Data) throws(SafeTensorsError) -> (header: [String: Any], dataStart: Int) {
        guard data.count >= 8 else {
            throw fail("too short for a safetensors file (\(data.count) bytes, the header length alone takes 8)")
        }
        let length = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        let limit = SafeTensors.maximumHeaderSize
        guard length <= UInt64(limit) else {
            throw fail("header length \(length) is larger than the \(limit)-byte limit (not a safetensors file?)")
        }
        let headerLength = Int(length)
        guard 8 + headerLength <= data.count else {
            throw fail("header length \(headerLength) runs past the end of the file (\(data.count) bytes): truncated?")
        }
        let headerData = data.subdata(in: data.startIndex + 8..<data.startIndex + 8 + headerLength)
        guard headerData.first == UInt8(ascii: "{") else { throw fail("the header is not a JSON object") }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw fail("the header is not valid JSON")
        }
        guard let header = parsed as? [String: Any] else { throw fail("the header is not a JSON object") }
        return (header, 8 + headerLength)
    }

    func metadata(_ value: Any) throws(SafeTensorsError) -> [String: String] {
        guard let map = value as? [String: Any] else { throw fail("__metadata__ is not a map of strings") }
        var metadata: [String: String] = [:]
        for (key, item) in map {
            guard let text = item as? String else { throw fail("__metadata__ \"\(key)\" is not a string") }
            metadata[key] = text
        }
        return metadata
    }

    /// One tensor's entry: an F32 or I8 tensor whose shape × element size is exactly its byte range, inside the data.
    func entry(_ name: String, _ value: Any, dataLength: Int) throws(SafeTensorsError) -> Entry {
        guard let info = value as? [String: Any] else { throw fail("tensor \"\(name)\": the entry is not an object") }
        guard let dtype = info["dtype"] as? String else { throw fail("tensor \"\(name)\": missing dtype") }
        guard let type = SafeTensorDType(rawValue: dtype) else {
            throw fail("tensor \"\(name)\": dtype \(dtype) is not supported (only F32 and I8)")
        }
        guard let shapeArray = info["shape"] as? [Any], let shape = SafeTensors.integers(shapeArray),
            shape.allSatisfy({ $0 >= 0 })
        else {
            throw fail("tensor \"\(name)\": shape is not a list of non-negative integers")
        }
        guard let offsetArray = info["data_offsets"] as? [Any], let offsets = SafeTensors.integers(offsetArray),
            offsets.count == 2
        else {
            throw fail("tensor \"\(name)\": data_offsets is not a pair of integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end else {
            throw fail("tensor \"\(name)\": data_offsets [\(begin), \(end)] are not an ascending pair")
        }
        guard end <= dataLength else {
            throw fail(
                "tensor \"\(name)\": data_offsets [\(begin), \(end)] run past the end of the data (\(dataLength) bytes): truncated?"
            )
        }
        let count = try elementCount(name, shape)
        guard end - begin == count * type.size else {
            throw fail(
                "tensor \"\(name)\": shape \(shape) needs \(count * type.size) bytes but data_offsets [\(begin), \(end)] hold \(end - begin)"
            )
        }
        return Entry(name: name, shape: shape, dtype: type, begin: begin, end: end)
    }

    private func elementCount(_ name: String, _ shape: [Int]) throws(SafeTensorsError) -> Int {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            // A count whose byte size overflows can't match any byte range either.
            guard !overflow, !product.multipliedReportingOverflow(by: 4).overflow else {
                throw fail("tensor \"\(name)\": shape \(shape) is too large")
            }
            count = product
        }
        return count
    }

    /// The tensors, sorted by offset, must tile the data exactly: no gaps, no overlaps, nothing after (as the
    /// reference reader checks).
    func checkTiling(_ entries: [Entry], dataLength: Int) throws(SafeTensorsError) {
        var expected = 0
        for entry in entries {
            guard entry.begin == expected else {
                throw fail(
                    "tensor \"\(entry.name)\": data_offsets start at \(entry.begin), expected \(expected) (gap or overlap)")
            }
            expected = entry.end
        }
        guard expected == dataLength else {
            throw fail("the tensors cover \(expected) bytes of data but the file holds \(dataLength) after the header")
        }
    }
}
