/// Owns one 64-byte-aligned block of Float32s. Several `Tensor`s may view it (a model's flat parameter buffer
/// and the per-layer weight/bias views into it), so it is a class, freed when the last view goes.
public final class TensorStorage: @unchecked Sendable {
    public static let alignment = 64
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    public convenience init(count: Int) {
        self.init(uninitializedCount: count)
        base.initialize(repeating: 0, count: max(count, 1))
    }

    /// Storage whose values are undefined until the caller writes every one (a buffer about to be received whole:
    /// zeroing it first would cost a pass over memory as long as the copy's own).
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative tensor size")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: TensorStorage.alignment)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}
