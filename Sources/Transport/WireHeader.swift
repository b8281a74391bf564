/// The header in front of every data-plane frame. Fixed 32 bytes (so libzmq stores it inline in the message,
/// without an allocation), little-endian:
///
///     0  magic    u32  "CHRT"       16 sequence  u32  collective sequence number, low 32 bits
///     4  version  u16               20 epoch     u32  membership epoch (`Assignment.membershipEpoch`)
///     6  kind     u8                24 chunk     u32  chunk index within the collective
///     7  dtype    u8                28 length    u32  payload bytes in the next frame
///     8  group    u32  communicator (sub-group) tag
///    12  sender   u32  sender's global rank
///
/// The epoch took the sequence number's high half, so the header stays 32 bytes (33 is libzmq's inline limit:
/// one byte more and every frame would cost an allocation). Only equality of sequence numbers is ever checked,
/// on frames that arrive in the order sent, so 32 bits of it lose nothing: a frame 2^32 collectives stale cannot
/// be in flight. For the same reason the version stays 1: a frame of the earlier layout (a u64 sequence) reads as
/// the same sequence at epoch 0, the first membership.
///
/// `decode` checks every field before anything trusts `length`, so a corrupt or hostile frame is refused with a
/// message that says what was expected, never used to size an allocation or a copy.
public struct WireHeader: Sendable, Equatable {
    public static let magic: UInt32 = 0x5452_4843  // "CHRT" in memory order
    public static let protocolVersion: UInt16 = 1
    public static let size = 32

    public enum Kind: UInt8, Sendable, CaseIterable {
        /// `link`: ring neighbours agreeing on a same-host shared-memory path (Collectives/SharedMemoryLinks.swift).
        case reduce = 1
        case gather = 2
        case broadcast = 3
        case barrier = 4
        case pointToPoint = 5
        case link = 6
    }

    public enum DType: UInt8, Sendable, CaseIterable {
        case float32 = 1
        case bfloat16 = 2
        case float16 = 3
        case bytes = 4
        public var elementSize: Int {
            switch self {
            case .float32: return 4
            case .bfloat16, .float16: return 2
            case .bytes: return 1
            }
        }
    }

    public var kind: Kind
    public var dtype: DType
    public var group: UInt32
    /// The membership the frame belongs to: the data plane drops frames of an earlier one (`DataPlane.resetPeers`)
    /// and never matches a frame to a receive of another.
    public var epoch: UInt32
    public var sender: UInt32
    /// The sequence number's low 32 bits (what travels); `init` and `expect` truncate theirs alike.
    public var sequence: UInt64
    public var chunk: UInt32
    public var length: UInt64

    /// Largest payload one frame can announce (the length field is 32 bits).
    public static let maxLength = Int(UInt32.max)

    /// The first membership's epoch, and the default: a frame built without one belongs to it.
    public static let firstEpoch: UInt32 = 0

    public init(
        kind: Kind, dtype: DType, group: UInt32, epoch: UInt32 = WireHeader.firstEpoch, sender: UInt32,
        sequence: UInt64, chunk: UInt32, length: UInt64
    ) {
        precondition(length <= UInt64(UInt32.max), "frame payload exceeds 4 GiB")
        self.kind = kind
        self.dtype = dtype
        self.group = group
        self.epoch = epoch
        self.sender = sender
        self.sequence = WireHeader.wireSequence(sequence)
        self.chunk = chunk
        self.length = length
    }

    /// The part of a sequence number that travels.
    @inlinable
    public static func wireSequence(_ sequence: UInt64) -> UInt64 { sequence & 0xFFFF_FFFF }

    /// Writes the 32 header bytes into `out` (which must hold at least `size` bytes).
    public func encode(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= WireHeader.size)
        out.storeBytes(of: WireHeader.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        out.storeBytes(of: WireHeader.protocolVersion.littleEndian, toByteOffset: 4, as: UInt16.self)
        out.storeBytes(of: kind.rawValue, toByteOffset: 6, as: UInt8.self)
        out.storeBytes(of: dtype.rawValue, toByteOffset: 7, as: UInt8.self)
        out.storeBytes(of: group.littleEndian, toByteOffset: 8, as: UInt32.self)
        out.storeBytes(of: sender.littleEndian, toByteOffset: 12, as: UInt32.self)
        out.storeBytes(of: UInt32(truncatingIfNeeded: sequence).littleEndian, toByteOffset: 16, as: UInt32.self)
        out.storeBytes(of: epoch.littleEndian, toByteOffset: 20, as: UInt32.self)
        out.storeBytes(of: chunk.littleEndian, toByteOffset: 24, as: UInt32.self)
        out.storeBytes(of: UInt32(truncatingIfNeeded: length).littleEndian, toByteOffset: 28, as: UInt32.self)
    }

    public var bytes: [UInt8] {
        var a = [UInt8](repeating: 0, count: WireHeader.size)
        a.withUnsafeMutableBytes { encode(into: $0) }
        return a
    }

    /// Parses and validates a header frame. `maxLength` is the largest payload this receiver accepts.
    public static func decode(_ raw: UnsafeRawBufferPointer, maxLength: Int) throws(WireError) -> WireHeader {
        guard raw.count == size else { throw .badHeaderSize(expected: size, got: raw.count) }
        let m = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard m == magic else { throw .badMagic(got: m) }
        let v = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        guard v == protocolVersion else { throw .versionMismatch(expected: protocolVersion, got: v) }
        let k = raw.load(fromByteOffset: 6, as: UInt8.self)
        guard let kind = Kind(rawValue: k) else { throw .unknownKind(k) }
        let d = raw.load(fromByteOffset: 7, as: UInt8.self)
        guard let dtype = DType(rawValue: d) else { throw .unknownDType(d) }
        let length = UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 28, as: UInt32.self)))
        guard length <= UInt64(max(0, maxLength)) else { throw .frameTooLarge(length: length, limit: maxLength) }
        guard length % UInt64(dtype.elementSize) == 0 else { throw .lengthNotMultiple(length: length, dtype: dtype) }
        return WireHeader(
            kind: kind, dtype: dtype,
            group: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
            epoch: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self)),
            sender: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self)),
            sequence: UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self))),
            chunk: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self)),
            length: length)
    }

    public static func decode(_ raw: [UInt8], maxLength: Int) throws(WireError) -> WireHeader {
        let result: Result<WireHeader, WireError> = raw.withUnsafeBytes { b in
            do throws(WireError) { return .success(try decode(b, maxLength: maxLength)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Checks that this header is the frame the receiver is waiting for. The epoch is not checked here: the data
    /// plane's mailbox sorts frames by epoch, and a shared-memory ring belongs to one communicator (so one
    /// membership), so a frame of another membership never reaches this check.
    public func expect(kind: Kind, group: UInt32, sender: UInt32, sequence: UInt64, chunk: UInt32, dtype: DType, length: Int)
        throws(WireError)
    {
        guard self.group == group else { throw .unexpected(field: "group", expected: UInt64(group), got: UInt64(self.group)) }
        guard self.sender == sender else {
            throw .unexpected(field: "sender rank", expected: UInt64(sender), got: UInt64(self.sender))
        }
        let sequence = WireHeader.wireSequence(sequence)
        guard self.sequence == sequence else {
            throw .unexpected(field: "sequence number", expected: sequence, got: self.sequence)
        }
        guard self.kind == kind else {
            throw .unexpected(field: "kind", expected: UInt64(kind.rawValue), got: UInt64(self.kind.rawValue))
        }
        guard self.chunk == chunk else {
            throw .unexpected(field: "chunk index", expected: UInt64(chunk), got: UInt64(self.chunk))
        }
        guard self.dtype == dtype else {
            throw .unexpected(field: "dtype", expected: UInt64(dtype.rawValue), got: UInt64(self.dtype.rawValue))
        }
        guard self.length == UInt64(length) else {
            throw .unexpected(field: "byte length", expected: UInt64(length), got: self.length)
        }
    }
}

/// Why a data-plane frame was refused.
public enum WireError: Error, Equatable, CustomStringConvertible {
    case badHeaderSize(expected: Int, got: Int)
    case badMagic(got: UInt32)
    case versionMismatch(expected: UInt16, got: UInt16)
    case unknownKind(UInt8)
    case unknownDType(UInt8)
    case frameTooLarge(length: UInt64, limit: Int)
    case lengthNotMultiple(length: UInt64, dtype: WireHeader.DType)
    case payloadSizeMismatch(header: UInt64, frame: Int)
    case missingPayload
    case unexpected(field: String, expected: UInt64, got: UInt64)

    public var description: String {
        switch self {
        case .badHeaderSize(let e, let g): return "wire header is \(g) bytes, expected \(e) (truncated or not a Cohort frame)"
        case .badMagic(let g):
            return
                "wire header magic is 0x\(String(g, radix: 16)), expected 0x\(String(WireHeader.magic, radix: 16)) (not a Cohort frame)"
        case .versionMismatch(let e, let g):
            return "wire protocol version mismatch: expected \(e), got \(g) (peers run different Cohort versions)"
        case .unknownKind(let k): return "wire header has unknown kind \(k)"
        case .unknownDType(let d): return "wire header has unknown dtype \(d)"
        case .frameTooLarge(let l, let limit): return "frame of \(l) bytes exceeds the maximum of \(limit) bytes"
        case .lengthNotMultiple(let l, let d):
            return "frame length \(l) is not a multiple of the \(d) element size \(d.elementSize)"
        case .payloadSizeMismatch(let h, let f): return "payload frame is \(f) bytes but the header announced \(h)"
        case .missingPayload: return "header frame not followed by a payload frame"
        case .unexpected(let field, let e, let g): return "out-of-sequence frame: expected \(field) \(e), got \(g)"
        }
    }
}
