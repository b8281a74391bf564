import Datasets
import NN
import Tensors

/// `batches` batches of 128 rows drawn without replacement from a seeded permutation of `data` (fewer when the set
/// is smaller).
public func calibrationSet(_ data: LabeledDataset, batches: Int, seed: UInt64) -> [Tensor] {
    var rng = Xoshiro256(seed: seed)
    var order = Array(0..<data.count)
    for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    let width = data.featureCount
    var result: [Tensor] = []
    var at = 0
    while result.count < batches && at < order.count {
        let rows = order[at..<min(order.count, at + 128)]
        let x = Tensor(shape: [rows.count, width])
        for (r, i) in rows.enumerated() { (x.pointer + r * width).update(from: data.features.pointer + i * width, count: width) }
        result.append(x)
        at += rows.count
    }
    return result
}
