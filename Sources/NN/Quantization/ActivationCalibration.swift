import Tensors

/// How a per-tensor activation scale is chosen from calibration data: the largest |x| seen (min/max: nothing
/// clips, but one outlier coarsens every step), or a percentile of |x| (clips the rare outliers for a finer step;
/// TensorRT's and PyTorch's histogram observers do the same).
public enum CalibrationMethod: Equatable, Sendable, CustomStringConvertible {
    case minMax
    /// A percentile in (0, 100], e.g. 99.99.
    case percentile(Double)

    public var description: String {
        switch self {
        case .minMax: return "minmax"
        case .percentile(let p): return "percentile:\(p)"
        }
    }
}

/// The |x| values one layer's input took over the calibration batches, and the scale they give.
/// Keeps a strided sample of at most `maxSamples` values per batch for percentiles (the maximum is exact).
public struct ActivationObserver: Sendable {
    public private(set) var maxAbs: Float = 0
    private var samples: [Float] = []
    static let maxSamplesPerBatch = 65_536

    public init() {}

    public mutating func observe(_ x: Tensor) {
        let p = x.pointer
        for i in 0..<x.count { maxAbs = max(maxAbs, abs(p[i])) }
        let stride = max(1, x.count / Self.maxSamplesPerBatch)
        var i = 0
        while i < x.count {
            samples.append(abs(p[i]))
            i += stride
        }
    }

    /// The scale s with which x ↦ round(x / s) maps the chosen range onto ±127 (1 when everything was 0).
    public func scale(_ method: CalibrationMethod) -> Float {
        var range = maxAbs
        if case .percentile(let p) = method, !samples.isEmpty {
            let sorted = samples.sorted()
            let index = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
            range = sorted[index]
        }
        return range > 0 ? range / 127 : 1
    }
}
