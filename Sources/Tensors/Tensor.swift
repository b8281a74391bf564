/// A row-major, contiguous fp32 tensor: a shape over a window of a `TensorStorage`.
///
/// `Tensor` has reference semantics, like a PyTorch tensor: copies of the value view the same memory.
/// That is what lets a layer's weights be a view into a model's one flat parameter buffer.
public struct Tensor: @unchecked Sendable {
    public let storage: TensorStorage
    public let offset: Int
    public let shape: [Int]
    public let count: Int

    /// A new zero-filled tensor.
    public init(shape: [Int]) {
        let n = Tensor.elementCount(shape)
        self.storage = TensorStorage(count: n)
        self.offset = 0
        self.shape = shape
        self.count = n
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        fill(value)
    }

    public init(shape: [Int], values: [Float]) {
        precondition(values.count == Tensor.elementCount(shape), "Tensor(shape: \(shape)) given \(values.count) values")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { src in storage.base.update(from: src.baseAddress!, count: values.count) }
    }

    /// A view of `shape` starting `offset` elements into `storage`.
    public init(storage: TensorStorage, offset: Int, shape: [Int]) {
        let n = Tensor.elementCount(shape)
        precondition(offset >= 0 && offset + n <= storage.count, "view \(shape) at \(offset) exceeds storage of \(storage.count)")
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.count = n
    }

    public static func elementCount(_ shape: [Int]) -> Int {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        return shape.reduce(1, *)
    }

    public var rank: Int { shape.count }
    /// Rows and columns when viewed as a matrix: all leading dimensions folded into rows.
    public var rows: Int { shape.count <= 1 ? 1 : shape.dropLast().reduce(1, *) }
    public var columns: Int { shape.last ?? 1 }

    public var pointer: UnsafeMutablePointer<Float> { storage.base + offset }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public subscript(i: Int) -> Float {
        get {
            precondition(i >= 0 && i < count)
            return pointer[i]
        }
        nonmutating set {
            precondition(i >= 0 && i < count)
            pointer[i] = newValue
        }
    }

    public subscript(row: Int, column: Int) -> Float {
        get { self[row * columns + column] }
        nonmutating set { self[row * columns + column] = newValue }
    }

    /// The same memory seen with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(Tensor.elementCount(newShape) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: newShape)
    }

    /// Rows `range` of a matrix (leading dimension), sharing memory.
    public func rows(_ range: Range<Int>) -> Tensor {
        let cols = columns
        return Tensor(storage: storage, offset: offset + range.lowerBound * cols, shape: [range.count, cols])
    }

    /// A deep copy into fresh storage.
    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        t.pointer.update(from: pointer, count: count)
        return t
    }

    public var array: [Float] { Array(buffer) }
}
