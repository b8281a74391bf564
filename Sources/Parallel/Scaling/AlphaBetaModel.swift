import Training

/// The α–β (Hockney) cost of a ring all-reduce, as in Thakur et al. and the NCCL/Horovod scaling notes:
/// a ring moves 2(N−1)/N of the message through every link in 2(N−1) steps, so one all-reduce of S bytes costs
///
///     T(N, S) = 2(N−1)·α + 2(N−1)/N · S · β
///
/// with α the per-message latency (seconds) and β the inverse bandwidth (seconds per byte). Data-parallel
/// training reduces its gradient in B buckets (one call each), so a step pays B latency terms but the
/// bandwidth term only once for the whole gradient: 2(N−1)·B·α + 2(N−1)/N · S · β.
public struct AlphaBetaModel: Sendable, Equatable, Codable {
    /// Seconds per message.
    public var alpha: Double
    /// Seconds per byte (1 / bandwidth).
    public var beta: Double

    public init(alpha: Double, beta: Double) {
        self.alpha = alpha
        self.beta = beta
    }

    /// From a latency in microseconds and a bandwidth in GB/s (10⁹ bytes per second).
    public init(latencyMicroseconds: Double, bandwidthGBps: Double) {
        self.init(alpha: latencyMicroseconds * 1e-6, beta: 1 / (bandwidthGBps * 1e9))
    }

    public var latencyMicroseconds: Double { alpha * 1e6 }
    public var bandwidthGBps: Double { 1 / beta / 1e9 }

    /// Seconds for all-reducing `bytes` in `buckets` calls across `workers` ranks; 0 for one worker.
    public func allReduceSeconds(workers n: Int, bytes: Double, buckets: Int = 1) -> Double {
        guard n > 1 else { return 0 }
        let hops = 2 * Double(n - 1)
        return hops * Double(max(buckets, 1)) * alpha + hops / Double(n) * bytes * beta
    }

    /// Least-squares fit of α and β to measured single all-reduce times at `workers` ranks: T is linear in S
    /// with intercept 2(N−1)α and slope 2(N−1)/N·β. Each point is weighted by 1/T², so the fit minimises
    /// RELATIVE error and the small sizes (which carry α) count as much as the large ones (which carry β).
    /// Needs at least two distinct sizes and N ≥ 2; the results are clamped to be non-negative.
    public static func fit(workers n: Int, samples: [(bytes: Double, seconds: Double)]) throws -> AlphaBetaModel {
        guard n >= 2 else { throw RuntimeError.invalid("alpha-beta fit: needs at least 2 ranks, got \(n)") }
        let points = samples.filter { $0.seconds > 0 && $0.bytes >= 0 }
        guard Set(points.map(\.bytes)).count >= 2 else {
            throw RuntimeError.invalid("alpha-beta fit: needs timings at two or more message sizes, got \(points.count)")
        }
        var sw = 0.0
        var sx = 0.0
        var sy = 0.0
        var sxx = 0.0
        var sxy = 0.0
        for p in points {
            let w = 1 / (p.seconds * p.seconds)
            sw += w
            sx += w * p.bytes
            sy += w * p.seconds
            sxx += w * p.bytes * p.bytes
            sxy += w * p.bytes * p.seconds
        }
        let det = sw * sxx - sx * sx
        var slope = (sw * sxy - sx * sy) / det
        var intercept = (sy - slope * sx) / sw
        if slope <= 0 {  // no measurable bandwidth term: all time is latency
            slope = 0
            intercept = sy / sw
        }
        if intercept < 0 {  // refit through the origin: all time is bandwidth
            intercept = 0
            slope = sxy / sxx
        }
        let hops = 2 * Double(n - 1)
        return AlphaBetaModel(alpha: intercept / hops, beta: slope * Double(n) / hops)
    }
}
