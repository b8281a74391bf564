/// Predicts the data-parallel step time at N workers for a fixed GLOBAL batch:
///
///     t(N) = t_compute(N) + max(0, t_allreduce(N) − overlap · t_backward(N))
///
/// t_compute(N) is the compute time per step measured at N (`bench scaling` takes the median from the run itself:
/// the step minus the wait for the all-reduce, so batch loading, the optimizer update and whatever the
/// communication thread takes from the cores are in it), else compute(1)/N: each worker takes 1/N of the batch.
/// t_allreduce is the α–β ring cost of the whole gradient in its buckets, with the α and β fitted at that N
/// where they were measured (N ranks on one machine share its cores), else the default link's. Backward is taken as 2/3 of the
/// compute (it does twice the forward's GEMM work); `overlap` is the share of it that really hides
/// communication. The default 0 charges the all-reduce in full: on a machine with as many workers as cores
/// the communication thread takes its cycles from backward, so little is hidden (see `bench scaling`).
public struct ScalingPredictor: Sendable {
    public var model: AlphaBetaModel
    /// α and β measured with exactly N ranks, used at that N instead of `model`.
    public var modelsByWorkers: [Int: AlphaBetaModel]
    public var gradientBytes: Double
    public var buckets: Int
    public var globalBatch: Int
    /// Measured compute-only step seconds by worker count.
    public var measuredCompute: [Int: Double]
    public var overlap: Double
    /// The gradient method's bytes on the wire (compression, local SGD); nil: the fp32 ring of `gradientBytes`.
    public var method: MethodWireBytes?

    public static let backwardShare = 2.0 / 3.0

    public init(
        model: AlphaBetaModel, gradientBytes: Double, buckets: Int, globalBatch: Int,
        measuredCompute: [Int: Double], overlap: Double = 0, modelsByWorkers: [Int: AlphaBetaModel] = [:]
    ) {
        self.model = model
        self.modelsByWorkers = modelsByWorkers
        self.gradientBytes = gradientBytes
        self.buckets = buckets
        self.globalBatch = globalBatch
        self.measuredCompute = measuredCompute
        self.overlap = min(max(overlap, 0), 1)
    }

    /// Compute seconds per step at `n` workers: measured there, else the 1-worker time divided by n (else the
    /// smallest measured count's time scaled by its count over n).
    public func computeSeconds(workers n: Int) -> Double {
        if let t = measuredCompute[n] { return t }
        if let t1 = measuredCompute[1] { return t1 / Double(n) }
        guard let m = measuredCompute.keys.min(), let t = measuredCompute[m] else { return .nan }
        return t * Double(m) / Double(n)
    }

    public func allReduceSeconds(workers n: Int) -> Double {
        let bytes = method?.ringEquivalentBytes(workers: n) ?? gradientBytes
        return (modelsByWorkers[n] ?? model).allReduceSeconds(workers: n, bytes: bytes, buckets: buckets)
    }

    public func stepSeconds(workers n: Int) -> Double {
        let compute = computeSeconds(workers: n)
        let hidden = overlap * Self.backwardShare * compute
        return compute + max(0, allReduceSeconds(workers: n) - hidden)
    }

    public func samplesPerSecond(workers n: Int) -> Double { Double(globalBatch) / stepSeconds(workers: n) }

    /// Speedup over one worker at the same global batch.
    public func speedup(workers n: Int) -> Double { stepSeconds(workers: 1) / stepSeconds(workers: n) }

    /// 1, 2, 4, … up to `maxWorkers` (inclusive when a power of two).
    public static func powersOfTwo(upTo maxWorkers: Int) -> [Int] {
        var out: [Int] = []
        var n = 1
        while n <= maxWorkers {
            out.append(n)
            n *= 2
        }
        return out
    }
}
