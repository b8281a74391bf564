import Config
import NN

/// The bytes one rank sends per optimizer step under a gradient method, from each method's own formula: what the
/// α–β prediction charges to the link, so `bench scaling` predicts bf16, PowerSGD, top-k and local SGD as well as
/// the fp32 ring. Local SGD sends its (fp32 or bf16) pseudo-gradient once every H steps.
public struct MethodWireBytes: Sendable {
    public let gradient: GradientSpec?
    public let sync: SyncSpec?
    public let parameters: Int
    public let matrices: [PowerSGDReducer.Matrix]
    public let bucketCounts: [Int]

    public init(gradient: GradientSpec?, sync: SyncSpec?, model: Sequential, bucketCounts: [Int]) {
        self.gradient = gradient
        self.sync = sync
        self.parameters = model.parameters.count
        self.matrices = PowerSGDReducer.matrices(of: model)
        self.bucketCounts = bucketCounts
    }

    /// A short name of the method, for the report: fp32, bf16, powersgd r4, topk 1%, local SGD H=8.
    public var label: String {
        if let sync { return "local SGD H=\(sync.everySteps)\(sync.precision == .bfloat16 ? " bf16" : "")" }
        guard let gradient else { return "fp32" }
        switch gradient.compression {
        case .none: return "fp32"
        case .bf16, .fp16: return gradient.compression.rawValue
        case .powersgd: return "powersgd r\(gradient.rank)"
        case .topk: return "topk \(gradient.density * 100)%"
        }
    }

    /// Bytes one rank sends per step at `n` workers.
    public func perRank(workers n: Int) -> Double {
        guard n > 1 else { return 0 }
        let ring = 2 * Double(n - 1) / Double(n)
        if let sync {
            return ring * Double(parameters) * (sync.precision == .bfloat16 ? 2 : 4) / Double(max(sync.everySteps, 1))
        }
        switch gradient?.compression ?? .none {
        case .none: return ring * 4 * Double(parameters)
        case .bf16, .fp16: return HalfPrecisionReducer.bytesPerStep(parameters: parameters, ranks: n)
        case .powersgd:
            return PowerSGDReducer.bytesPerStep(
                matrices: matrices, parameters: parameters, rank: gradient?.rank ?? 1, ranks: n)
        case .topk:
            return TopKReducer.bytesPerStep(bucketCounts: bucketCounts, density: gradient?.density ?? 1, ranks: n)
        }
    }

    /// The fp32 gradient size whose ring all-reduce sends as many bytes as the method: S with 2(n−1)/n · S equal
    /// to `perRank(workers:)`, what the α–β ring formula takes.
    public func ringEquivalentBytes(workers n: Int) -> Double {
        guard n > 1 else { return 0 }
        return perRank(workers: n) / (2 * Double(n - 1) / Double(n))
    }
}
