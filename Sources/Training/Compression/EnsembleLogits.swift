import Foundation
import Tensors

/// Logits z whose softened output softmax(z/T) is the mean of the members' softmax(z_i/T), row by row:
/// z = T·log(mean_i softmax(z_i/T)). An ensemble teaches through the existing distillation loss this way, and the
/// mean is over probabilities, as Hinton et al. (2015) average an ensemble, not over logits (a geometric mean).
/// Every member has `out`'s shape.
public func ensembleLogits(_ members: [Tensor], temperature t: Float, into out: Tensor) {
    let (rows, c) = (out.rows, out.columns)
    var mean = [Float](repeating: 0, count: c)
    let share = 1 / Float(members.count)
    for r in 0..<rows {
        for j in 0..<c { mean[j] = 0 }
        for m in members {
            let z = m.pointer + r * c
            var top = -Float.infinity
            for j in 0..<c { top = max(top, z[j]) }
            var sum: Float = 0
            for j in 0..<c { sum += expf((z[j] - top) / t) }
            for j in 0..<c { mean[j] += share * expf((z[j] - top) / t) / sum }
        }
        let o = out.pointer + r * c
        for j in 0..<c { o[j] = t * logf(max(mean[j], .leastNormalMagnitude)) }
    }
}
