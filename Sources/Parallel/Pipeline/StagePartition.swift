import NN
import Training

/// How a model's layers are cut into pipeline stages: contiguous layer ranges, one per stage.
///
/// Cuts fall only before a layer with parameters (a Dense), so each stage begins with a Dense and ends with that
/// block's activation: what crosses between stages is a post-activation tensor, and a stage never starts with an
/// element-wise layer that would need the previous stage's output kept for its backward.
public struct StagePartition: Equatable, Sendable, CustomStringConvertible {
    /// Layer index ranges of the model, one per stage, covering all layers in order.
    public let layerRanges: [Range<Int>]

    public init(layerRanges: [Range<Int>]) { self.layerRanges = layerRanges }

    public var stages: Int { layerRanges.count }

    public var description: String {
        layerRanges.enumerated().map { "stage \($0.offset): layers \($0.element.lowerBound)..<\($0.element.upperBound)" }
            .joined(separator: ", ")
    }

    /// Blocks of `model`: each starts at a layer with parameters (or at layer 0) and runs to the next such layer.
    public static func blocks(of model: Sequential) -> [Range<Int>] {
        var starts = [0]
        for i in model.layers.indices.dropFirst() where model.layers[i].parameterCount > 0 { starts.append(i) }
        return starts.indices.map { starts[$0]..<(($0 + 1 < starts.count) ? starts[$0 + 1] : model.layers.count) }
    }

    /// Estimated training FLOPs per example of each block, summed from each layer's own estimate
    /// (`Layer.trainingFLOPs`); the model's first layer computes no input gradient.
    public static func blockFLOPs(of model: Sequential) -> [Double] {
        var width = model.inputFeatures
        var perLayer: [Double] = []
        for (i, layer) in model.layers.enumerated() {
            perLayer.append(layer.trainingFLOPs(input: width, needInputGradient: i != 0))
            width = layer.outputFeatures(forInput: width) ?? width
        }
        return blocks(of: model).map { r in r.reduce(0) { $0 + perLayer[$1] } }
    }

    /// Contiguous stages of whole blocks with the smallest possible largest stage cost (the pipeline runs at the
    /// pace of its slowest stage). Exact dynamic programme over (blocks, stages): models here have tens of blocks.
    public static func balanced(_ model: Sequential, stages k: Int, costs: [Double]? = nil) throws -> StagePartition {
        let blocks = blocks(of: model)
        let cost = costs ?? blockFLOPs(of: model)
        guard cost.count == blocks.count else {
            throw RuntimeError.invalid("pipeline partition: \(cost.count) block costs for \(blocks.count) blocks")
        }
        guard k >= 1 && k <= blocks.count else {
            throw RuntimeError.invalid(
                "parallelism.pipeline_stages: \(k) stages but the model has only \(blocks.count) Dense layers to cut between")
        }
        let n = blocks.count
        var prefix = [0.0]
        for c in cost { prefix.append(prefix.last! + c) }
        // best[j][i]: the smallest largest-stage cost of the first i blocks in j stages; cut[j][i]: where stage j starts.
        var best = Array(repeating: Array(repeating: Double.infinity, count: n + 1), count: k + 1)
        var cut = Array(repeating: Array(repeating: 0, count: n + 1), count: k + 1)
        best[0][0] = 0
        for j in 1...k {
            for i in j...n {
                for p in (j - 1)..<i where best[j - 1][p] < .infinity {
                    let v = max(best[j - 1][p], prefix[i] - prefix[p])
                    if v < best[j][i] {
                        best[j][i] = v
                        cut[j][i] = p
                    }
                }
            }
        }
        var bounds = [n]
        var i = n
        for j in stride(from: k, to: 0, by: -1) {
            i = cut[j][i]
            bounds.append(i)
        }
        bounds.reverse()
        return StagePartition(layerRanges: (0..<k).map { blocks[bounds[$0]].lowerBound..<blocks[bounds[$0 + 1] - 1].upperBound })
    }

    /// An explicit split: `blocksPerStage[s]` consecutive blocks (Dense layers with their activations) for stage s.
    public static func explicit(_ model: Sequential, blocksPerStage: [Int]) throws -> StagePartition {
        let blocks = blocks(of: model)
        guard !blocksPerStage.isEmpty, blocksPerStage.allSatisfy({ $0 >= 1 }), blocksPerStage.reduce(0, +) == blocks.count else {
            throw RuntimeError.invalid(
                "pipeline partition: \(blocksPerStage) must be positive block counts summing to the model's \(blocks.count) Dense layers"
            )
        }
        var ranges: [Range<Int>] = []
        var b = 0
        for count in blocksPerStage {
            ranges.append(blocks[b].lowerBound..<blocks[b + count - 1].upperBound)
            b += count
        }
        return StagePartition(layerRanges: ranges)
    }
}
