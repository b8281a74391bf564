import Foundation

/// Everything besides the weights that a run needs to continue exactly where it stopped: the same next batch,
/// the same random numbers, the same optimizer moments. Stored as JSON next to the weights.
public struct CheckpointState: Codable, Equatable, Sendable {
    /// Optimizer steps done so far.
    public var step: Int
    /// Epochs completed (the epoch in progress is `epoch`, 0-based, when `dataCursor` > 0).
    public var epoch: Int
    /// Samples of the current epoch's (seeded, shuffled) order already consumed.
    public var dataCursor: Int
    /// The random generators' states (e.g. dropout, shuffling), as their raw words.
    public var rngState: [UInt64]
    /// Named optimizer buffers (momentum, Adam's m and v, ...). Stored as exact little-endian bytes (base64),
    /// not decimal text, so a resumed run is bitwise identical to one that never stopped.
    public var optimizerState: [String: [Float]]
    /// Free-form facts worth keeping (workload, loss, accuracy).
    public var info: [String: String]
    /// CRC-32 of the weights' fp32 bytes in file order; filled in by `CheckpointStore.save`.
    public var weightsCRC32: UInt32

    public init(
        step: Int, epoch: Int, dataCursor: Int = 0, rngState: [UInt64] = [],
        optimizerState: [String: [Float]] = [:], info: [String: String] = [:], weightsCRC32: UInt32 = 0
    ) {
        self.step = step
        self.epoch = epoch
        self.dataCursor = dataCursor
        self.rngState = rngState
        self.optimizerState = optimizerState
        self.info = info
        self.weightsCRC32 = weightsCRC32
    }

    enum CodingKeys: String, CodingKey {
        case step, epoch
        case dataCursor = "data_cursor"
        case rngState = "rng_state"
        case optimizerState = "optimizer_state"
        case info
        case weightsCRC32 = "weights_crc32"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        epoch = try c.decode(Int.self, forKey: .epoch)
        dataCursor = try c.decode(Int.self, forKey: .dataCursor)
        rngState = try c.decode([UInt64].self, forKey: .rngState)
        optimizerState = try c.decode([String: ExactFloats].self, forKey: .optimizerState).mapValues(\.values)
        info = try c.decode([String: String].self, forKey: .info)
        weightsCRC32 = try c.decode(UInt32.self, forKey: .weightsCRC32)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(dataCursor, forKey: .dataCursor)
        try c.encode(rngState, forKey: .rngState)
        try c.encode(optimizerState.mapValues(ExactFloats.init), forKey: .optimizerState)
        try c.encode(info, forKey: .info)
        try c.encode(weightsCRC32, forKey: .weightsCRC32)
    }
}

/// fp32 values as `{"count": n, "f32le_base64": "..."}`: exact (NaN payloads and -0 included) and ~3× smaller
/// than decimal text.
struct ExactFloats: Codable {
    var values: [Float]
    init(_ values: [Float]) { self.values = values }

    enum CodingKeys: String, CodingKey {
        case count
        case bytes = "f32le_base64"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let count = try c.decode(Int.self, forKey: .count)
        guard let data = Data(base64Encoded: try c.decode(String.self, forKey: .bytes)), data.count == count * 4 else {
            throw DecodingError.dataCorruptedError(forKey: .bytes, in: c, debugDescription: "not \(count) base64 fp32 values")
        }
        values = data.withUnsafeBytes { raw in
            (0..<count).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(values.count, forKey: .count)
        var data = Data(capacity: values.count * 4)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        try c.encode(data.base64EncodedString(), forKey: .bytes)
    }
}
