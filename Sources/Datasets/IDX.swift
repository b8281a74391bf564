import CZlib
import Foundation

/// The IDX format of MNIST and Fashion-MNIST: magic 0x00 0x00 <type> <rank>, then `rank` big-endian UInt32
/// dimensions, then the elements row-major. Only the unsigned-byte type (0x08) is used by these data sets,
/// so only it is read. Files may be gzip-compressed (".gz"); zlib's gzread reads plain files transparently too.
public struct IDXArray: Equatable, Sendable {
    public var dimensions: [Int]
    public var bytes: [UInt8]

    public init(dimensions: [Int], bytes: [UInt8]) {
        precondition(dimensions.reduce(1, *) == bytes.count, "IDX: \(bytes.count) bytes for dimensions \(dimensions)")
        self.dimensions = dimensions
        self.bytes = bytes
    }
}

public enum IDX {
    public static let unsignedByteType: UInt8 = 0x08

    /// The most element bytes one IDX file may hold (4 GiB): far above Fashion-MNIST's 47 MB, far below what
    /// would exhaust memory before the first error.
    public static let maximumElementBytes = 1 << 32

    /// Reads and validates an IDX file (plain or gzip). `expectedRank` rejects e.g. a label file given as images.
    /// Decompression stops one byte past what the header describes, so a gzip bomb costs no more than the data
    /// it claims to hold.
    public static func read(_ path: String, expectedRank: Int? = nil) throws -> IDXArray {
        let reader = try GzipReader(path)
        let magic = try reader.read(upTo: 4)
        let rank = try validateMagic(magic, path: path, expectedRank: expectedRank)
        let dimensionBytes = try reader.read(upTo: 4 * rank)
        guard dimensionBytes.count == 4 * rank else {
            throw DatasetError(
                file: path, "truncated IDX header: \(4 + dimensionBytes.count) bytes, need \(4 + 4 * rank) for rank \(rank)")
        }
        let dims = (0..<rank).map { d in
            let o = 4 * d
            return Int(
                UInt32(dimensionBytes[o]) << 24 | UInt32(dimensionBytes[o + 1]) << 16
                    | UInt32(dimensionBytes[o + 2]) << 8 | UInt32(dimensionBytes[o + 3]))
        }
        let expected = try elementCount(dims, path: path)
        let payload = try reader.read(upTo: expected + 1)
        if payload.count < expected {
            throw DatasetError(
                file: path, "truncated: dimensions \(dims) need \(expected) bytes of data, file has \(payload.count)")
        }
        if payload.count > expected {
            let rest = try reader.read(upTo: 1 << 20).count
            let extra = "\(1 + rest)\(rest == 1 << 20 ? " or more" : "")"
            throw DatasetError(file: path, "\(extra) bytes after the data that dimensions \(dims) describe")
        }
        return IDXArray(dimensions: dims, bytes: payload)
    }

    /// The rank from the 4-byte magic 0x00 0x00 <type> <rank>, checked.
    private static func validateMagic(_ data: [UInt8], path: String, expectedRank: Int?) throws -> Int {
        guard data.count >= 4 else { throw DatasetError(file: path, "too short for an IDX header (\(data.count) bytes)") }
        guard data[0] == 0, data[1] == 0 else {
            throw DatasetError(
                file: path,
                String(
                    format: "bad IDX magic number 0x%02x%02x%02x%02x (expected 0x0000TTRR)",
                    data[0], data[1], data[2], data[3]))
        }
        guard data[2] == unsignedByteType else {
            throw DatasetError(
                file: path, String(format: "IDX element type 0x%02x not supported (only 0x08, unsigned byte)", data[2]))
        }
        let rank = Int(data[3])
        guard rank >= 1 else { throw DatasetError(file: path, "IDX rank 0") }
        if let expectedRank, rank != expectedRank {
            throw DatasetError(file: path, "IDX rank \(rank), expected \(expectedRank)")
        }
        return rank
    }

    /// The product of the dimensions, with overflow and the size cap reported as errors.
    private static func elementCount(_ dims: [Int], path: String) throws -> Int {
        var product = 1
        for d in dims {
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            guard !overflow, p <= maximumElementBytes else {
                throw DatasetError(file: path, "IDX dimensions \(dims) describe more than \(maximumElementBytes) bytes")
            }
            product = p
        }
        return product
    }

    /// Writes `array` as IDX (unsigned bytes), gzip-compressed when `compressed`.
    public static func write(_ array: IDXArray, to path: String, compressed: Bool) throws {
        var out: [UInt8] = [0, 0, unsignedByteType, UInt8(array.dimensions.count)]
        for d in array.dimensions {
            let v = UInt32(d)
            out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        }
        out += array.bytes
        try writeAllBytes(out, to: path, compressed: compressed)
    }

    /// The whole (decompressed) content of a file, through zlib.
    public static func readAllBytes(_ path: String) throws -> [UInt8] {
        try GzipReader(path).read(upTo: Int.max)
    }

    public static func writeAllBytes(_ bytes: [UInt8], to path: String, compressed: Bool) throws {
        if !compressed {
            do { try Data(bytes).write(to: URL(fileURLWithPath: path)) } catch {
                throw DatasetError(file: path, "cannot write: \(error.localizedDescription)")
            }
            return
        }
        guard let gz = gzopen(path, "wb") else { throw DatasetError(file: path, "cannot open for writing") }
        let written = bytes.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
        let closed = gzclose(gz)
        guard Int(written) == bytes.count || bytes.isEmpty, closed == Z_OK else {
            throw DatasetError(file: path, "gzip write failed")
        }
    }
}

/// A plain or gzip file read through zlib, in bounded pieces: callers say how many bytes they can use, so nothing
/// decompresses more than that.
final class GzipReader {
    private let path: String
    private let gz: gzFile
    private var consumed = 0

    init(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError(file: path, "no such file") }
        guard let gz = gzopen(path, "rb") else {
            throw DatasetError(file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        gzbuffer(gz, 1 << 20)
        self.path = path
        self.gz = gz
    }

    deinit { gzclose(gz) }

    /// Up to `limit` bytes (fewer only at the end of the file).
    func read(upTo limit: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(max(limit, 1), 1 << 20))
        while result.count < limit {
            let want = min(chunk.count, limit - result.count)
            let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32(want)) }
            if n < 0 { throw corrupt(after: result.count) }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<Int(n)])
        }
        consumed += result.count
        // A truncated gzip stream ends without an error from gzread on some zlib versions; gzerror tells.
        var code: Int32 = 0
        _ = gzerror(gz, &code)
        if code != Z_OK && code != Z_STREAM_END { throw corrupt(after: 0) }
        return result
    }

    private func corrupt(after bytes: Int) -> DatasetError {
        var code: Int32 = 0
        let message = String(cString: gzerror(gz, &code))
        return DatasetError(file: path, "corrupt or truncated gzip data (\(message)) after \(consumed + bytes) bytes")
    }
}
