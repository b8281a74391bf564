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

    /// Reads and validates an IDX file (plain or gzip). `expectedRank` rejects e.g. a label file given as images.
    public static func read(_ path: String, expectedRank: Int? = nil) throws -> IDXArray {
        let data = try readAllBytes(path)
        guard data.count >= 4 else { throw DatasetError(file: path, "too short for an IDX header (\(data.count) bytes)") }
        guard data[0] == 0, data[1] == 0 else {
            throw DatasetError(file: path, String(format: "bad IDX magic number 0x%02x%02x%02x%02x (expected 0x0000TTRR)",
                                                  data[0], data[1], data[2], data[3]))
        }
        guard data[2] == unsignedByteType else {
            throw DatasetError(file: path, String(format: "IDX element type 0x%02x not supported (only 0x08, unsigned byte)", data[2]))
        }
        let rank = Int(data[3])
        guard rank >= 1 else { throw DatasetError(file: path, "IDX rank 0") }
        if let expectedRank, rank != expectedRank {
            throw DatasetError(file: path, "IDX rank \(rank), expected \(expectedRank)")
        }
        let headerBytes = 4 + 4 * rank
        guard data.count >= headerBytes else {
            throw DatasetError(file: path, "truncated IDX header: \(data.count) bytes, need \(headerBytes) for rank \(rank)")
        }
        var dims: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            let v = UInt32(data[o]) << 24 | UInt32(data[o + 1]) << 16 | UInt32(data[o + 2]) << 8 | UInt32(data[o + 3])
            dims.append(Int(v))
        }
        let (expected, overflow) = dims.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        guard !overflow else { throw DatasetError(file: path, "IDX dimensions \(dims) overflow") }
        let payload = data.count - headerBytes
        if payload < expected {
            throw DatasetError(file: path, "truncated: dimensions \(dims) need \(expected) bytes of data, file has \(payload)")
        }
        if payload > expected {
            throw DatasetError(file: path, "\(payload - expected) bytes after the data that dimensions \(dims) describe")
        }
        return IDXArray(dimensions: dims, bytes: Array(data[headerBytes...]))
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
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError(file: path, "no such file") }
        guard let gz = gzopen(path, "rb") else { throw DatasetError(file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { gzclose(gz) }
        gzbuffer(gz, 1 << 20)
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = String(cString: gzerror(gz, &code))
                throw DatasetError(file: path, "corrupt or truncated gzip data (\(message)) after \(result.count) bytes")
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<Int(n)])
        }
        // A truncated gzip stream ends without an error from gzread on some zlib versions; gzerror tells.
        var code: Int32 = 0
        let message = String(cString: gzerror(gz, &code))
        if code != Z_OK && code != Z_STREAM_END {
            throw DatasetError(file: path, "corrupt or truncated gzip data (\(message)) after \(result.count) bytes")
        }
        return result
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
