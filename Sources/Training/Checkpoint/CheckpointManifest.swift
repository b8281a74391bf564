/// The last file of a checkpoint to be written: it names the weights and state files with their sizes and
/// CRCs. A checkpoint exists only once its manifest does, and is used only while every file still matches it,
/// so a writer killed at any point leaves at worst an ignored, incomplete checkpoint.
struct CheckpointManifest: Codable, Equatable {
    static let currentFormat = "cohort-checkpoint"
    static let currentVersion = 1

    struct FileEntry: Codable, Equatable {
        var name: String
        var bytes: Int
        var crc32: UInt32
    }

    var format = currentFormat
    var version = currentVersion
    var step: Int
    var epoch: Int
    var weights: FileEntry
    var state: FileEntry
    /// CRC-32 of the weights' fp32 bytes (independent of the file's header), as in the state.
    var weightsCRC32: UInt32
    var createdAt: String

    enum CodingKeys: String, CodingKey {
        case format, version, step, epoch, weights, state
        case weightsCRC32 = "weights_crc32"
        case createdAt = "created_at"
    }
}
