import Tensors

/// Reusable batch memory for a training loop: `load` gathers examples into the same [capacity, D] buffer and label
/// array every step, so steady-state steps allocate nothing.
public final class BatchBuffer: @unchecked Sendable {
    public let capacity: Int
    public let featureCount: Int
    private let storage: TensorStorage
    private let labelStorage: UnsafeMutablePointer<Int32>
    private var cached: Tensor?

    public init(capacity: Int, featureCount: Int) {
        self.capacity = capacity
        self.featureCount = featureCount
        storage = TensorStorage(count: max(capacity, 1) * featureCount)
        labelStorage = .allocate(capacity: max(capacity, 1))
        labelStorage.initialize(repeating: 0, count: max(capacity, 1))
    }

    deinit { labelStorage.deallocate() }

    /// x: [indices.count, D] and the matching labels; valid until the next `load`.
    public func load(_ indices: ArraySlice<Int>, from data: LabeledDataset) -> (x: Tensor, labels: UnsafeBufferPointer<Int32>) {
        precondition(indices.count <= capacity, "batch of \(indices.count) exceeds buffer capacity \(capacity)")
        precondition(data.featureCount == featureCount, "\(data.name) has \(data.featureCount) features, buffer \(featureCount)")
        let x: Tensor
        if let c = cached, c.shape[0] == indices.count {
            x = c
        } else {
            x = Tensor(storage: storage, offset: 0, shape: [indices.count, featureCount])
            cached = x
        }
        data.gather(indices, into: x, labels: labelStorage)
        return (x, UnsafeBufferPointer(start: labelStorage, count: indices.count))
    }
}
