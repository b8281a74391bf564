/// The checksum of weights and optimizer state (the replicas' agreement, the done line's weight checksums):
/// FNV-1a's xor-then-multiply on 8-byte words in four independent lanes, then the tail bytes one by one. Each step
/// is a bijection of a lane for a given word, so states that differ in one word always hash apart. Byte by byte, FNV
/// ran at about a byte a nanosecond, 55–66 ms for W2's weights and momentum, more than the copy it checks.
enum StateHash {
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x100_0000_01b3

    static func mix(_ seed: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress else { return seed }
        var (a, b, c, d) = (seed, seed ^ 0x9E37_79B9_7F4A_7C15, seed ^ 0xD1B5_4A32_D192_ED03, seed ^ 0x94D0_49BB_1331_11EB)
        let words = bytes.count / 8
        var i = 0
        while i + 4 <= words {
            a = (a ^ base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* prime
            b = (b ^ base.loadUnaligned(fromByteOffset: 8 * i + 8, as: UInt64.self)) &* prime
            c = (c ^ base.loadUnaligned(fromByteOffset: 8 * i + 16, as: UInt64.self)) &* prime
            d = (d ^ base.loadUnaligned(fromByteOffset: 8 * i + 24, as: UInt64.self)) &* prime
            i += 4
        }
        var h = (((a &* prime) ^ b) &* prime ^ c) &* prime ^ d
        while i < words {
            h = (h ^ base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* prime
            i += 1
        }
        for k in (8 * words)..<bytes.count { h = (h ^ UInt64(bytes[k])) &* prime }
        return h
    }
}
