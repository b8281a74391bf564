import Foundation

/// CRC-32 (IEEE 802.3, the polynomial of zlib and PNG: `zlib.crc32` in Python gives the same numbers), used to
/// verify checkpoint files and to compare weights across workers. Slicing-by-8 so a few hundred MB take well
/// under a second.
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }

    public static func checksum<C: ContiguousBytes>(_ bytes: C) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// The checksum of fp32 values as their little-endian bytes (what a safetensors file stores).
    public static func checksum(floats: UnsafeBufferPointer<Float>) -> UInt32 {
        #if _endian(little)
            return checksum(UnsafeRawBufferPointer(floats))
        #else
            var crc = CRC32()
            for value in floats {
                var bits = value.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { crc.update($0) }
            }
            return crc.value
        #endif
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = ~value
        var i = 0
        let count = bytes.count
        let t = Self.tables
        while i + 8 <= count {
            let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian ^ UInt64(crc)
            crc =
                t[7][Int(word & 0xFF)] ^ t[6][Int((word >> 8) & 0xFF)] ^ t[5][Int((word >> 16) & 0xFF)]
                ^ t[4][Int((word >> 24) & 0xFF)] ^ t[3][Int((word >> 32) & 0xFF)] ^ t[2][Int((word >> 40) & 0xFF)]
                ^ t[1][Int((word >> 48) & 0xFF)] ^ t[0][Int(word >> 56)]
            i += 8
        }
        while i < count {
            crc = t[0][Int((crc ^ UInt32(bytes[i])) & 0xFF)] ^ (crc >> 8)
            i += 1
        }
        value = ~crc
    }

    private static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            tables[0][n] = c
        }
        for n in 0..<256 {
            for k in 1..<8 { tables[k][n] = tables[0][Int(tables[k - 1][n] & 0xFF)] ^ (tables[k - 1][n] >> 8) }
        }
        return tables
    }()
}
