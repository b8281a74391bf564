import Testing
import Transport

@Suite struct WireHeaderTests {
    let sample = WireHeader(
        kind: .reduce, dtype: .float32, group: 0xDEAD_BEEF, sender: 7, sequence: 0x0123_4567_89AB_CDEF,
        chunk: 42, length: 4096)

    @Test func roundTripsEveryField() throws {
        let bytes = sample.bytes
        #expect(bytes.count == WireHeader.size)
        #expect(Array(bytes.prefix(4)) == Array("CHRT".utf8))
        #expect(try WireHeader.decode(bytes, maxLength: 1 << 20) == sample)
    }

    /// The epoch sits where the earlier layout had the sequence's high half: a header without one reads as the
    /// first membership, and only the sequence's low 32 bits travel (compared alike on both ends).
    @Test func carriesTheMembershipEpochInThe32Bytes() throws {
        var h = sample
        h.epoch = 0x0102_0304
        let bytes = h.bytes
        #expect(bytes.count == 32)
        #expect(Array(bytes[20..<24]) == [4, 3, 2, 1])
        let back = try WireHeader.decode(bytes, maxLength: 1 << 20)
        #expect(back.epoch == 0x0102_0304 && back == h)
        #expect(sample.epoch == WireHeader.firstEpoch && WireHeader.firstEpoch == 0)
        #expect(sample.sequence == 0x89AB_CDEF)
        try back.expect(
            kind: .reduce, group: sample.group, sender: 7, sequence: 0x0123_4567_89AB_CDEF, chunk: 42,
            dtype: .float32, length: 4096)
    }

    @Test func refusesEachMalformedField() {
        func refuse(_ mutate: (inout [UInt8]) -> Void, maxLength: Int = 1 << 20, _ expected: WireError) {
            var b = sample.bytes
            mutate(&b)
            #expect(throws: expected) { try WireHeader.decode(b, maxLength: maxLength) }
        }
        refuse({ $0[0] = 0 }, .badMagic(got: 0x5452_4800))
        refuse({ $0[4] = 2 }, .versionMismatch(expected: 1, got: 2))
        refuse({ $0[6] = 99 }, .unknownKind(99))
        refuse({ $0[7] = 0 }, .unknownDType(0))
        refuse({ $0.removeLast() }, .badHeaderSize(expected: 32, got: 31))
        refuse({ $0.append(0) }, .badHeaderSize(expected: 32, got: 33))
        refuse({ _ in }, maxLength: 4095, .frameTooLarge(length: 4096, limit: 4095))
        refuse(
            {
                $0[28] = 3
                $0[29] = 0
            }, .lengthNotMultiple(length: 3, dtype: .float32))
    }

    @Test func expectNamesTheMismatchedField() {
        #expect(throws: WireError.unexpected(field: "sequence number", expected: 5, got: sample.sequence)) {
            try sample.expect(
                kind: .reduce, group: sample.group, sender: 7, sequence: 5, chunk: 42, dtype: .float32, length: 4096)
        }
        #expect(throws: WireError.unexpected(field: "chunk index", expected: 1, got: 42)) {
            try sample.expect(
                kind: .reduce, group: sample.group, sender: 7, sequence: sample.sequence, chunk: 1, dtype: .float32, length: 4096)
        }
        let e = WireError.versionMismatch(expected: 1, got: 3)
        #expect("\(e)".contains("expected 1, got 3"))
    }

    /// Seeded random byte strings (and mutations of a valid header) through the decoder: it must either return a
    /// header whose length respects the limit or throw a WireError — never crash or trust a bad length.
    @Test func fuzzedBytesNeverCrashTheDecoder() {
        var rng = SplitMix64(seed: 0xC0_40_27)
        var decoded = 0
        for i in 0..<5000 {
            var b: [UInt8]
            if i % 2 == 0 {
                b = (0..<Int(rng.next() % 48)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                b = sample.bytes
                for _ in 0..<(1 + Int(rng.next() % 4)) { b[Int(rng.next() % 32)] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            do {
                let h = try WireHeader.decode(b, maxLength: 1 << 16)
                #expect(h.length <= 1 << 16)
                #expect(h.length % UInt64(h.dtype.elementSize) == 0)
                decoded += 1
            } catch {
                // refused: fine
            }
        }
        #expect(decoded > 0 && decoded < 5000)  // some mutations keep a valid header, random bytes don't
    }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
