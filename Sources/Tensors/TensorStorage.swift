/// Owns one 64-byte-aligned block of Float32s. Several `Tensor`s may view it (a model's flat parameter buffer
/// and the per-layer weight/bias views into it), so it is a class, freed when the last view goes.
public final class TensorStorage: @unchecked Sendable {
    public static let alignment = 64
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0, "negative tensor size")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: TensorStorage.alignment)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}
