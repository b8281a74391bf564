import Foundation

/// Where one job key's values come from: `{log_uniform: [lo, hi]}`, `{uniform: [lo, hi]}`, `{int: [lo, hi]}`
/// (inclusive) or `{choice: [a, b, …]}`, as Ray Tune's `loguniform`/`uniform`/`randint`/`choice`.
public enum TuneDomain: Codable, Sendable, Equatable {
    case logUniform(Double, Double)
    case uniform(Double, Double)
    case int(Int, Int)
    case choice([TuneValue])

    enum CodingKeys: String, CodingKey {
        case logUniform = "log_uniform"
        case uniform
        case int
        case choice
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.allKeys.count == 1, let key = c.allKeys.first else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "expected exactly one of log_uniform, uniform, int, choice"))
        }
        switch key {
        case .logUniform:
            let b = try Self.bounds(c, key, Double.self)
            self = .logUniform(b.0, b.1)
        case .uniform:
            let b = try Self.bounds(c, key, Double.self)
            self = .uniform(b.0, b.1)
        case .int:
            let b = try Self.bounds(c, key, Int.self)
            self = .int(b.0, b.1)
        case .choice:
            self = .choice(try c.decode([TuneValue].self, forKey: .choice))
        }
    }

    private static func bounds<T: Decodable>(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, _: T.Type) throws
        -> (T, T)
    {
        let pair = try c.decode([T].self, forKey: key)
        guard pair.count == 2 else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "expected [low, high], got \(pair.count) value(s)")
        }
        return (pair[0], pair[1])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .logUniform(let lo, let hi): try c.encode([lo, hi], forKey: .logUniform)
        case .uniform(let lo, let hi): try c.encode([lo, hi], forKey: .uniform)
        case .int(let lo, let hi): try c.encode([lo, hi], forKey: .int)
        case .choice(let values): try c.encode(values, forKey: .choice)
        }
    }

    /// The problem with this domain's bounds, if any (one phrase, for a one-line error naming the key).
    public var problem: String? {
        switch self {
        case .logUniform(let lo, let hi):
            if !(lo > 0) || !(hi > 0) { return "log_uniform bounds must be > 0, got [\(lo), \(hi)]" }
            if !(lo < hi) { return "log_uniform needs low < high, got [\(lo), \(hi)]" }
        case .uniform(let lo, let hi):
            if !lo.isFinite || !hi.isFinite || !(lo < hi) { return "uniform needs finite low < high, got [\(lo), \(hi)]" }
        case .int(let lo, let hi):
            if lo > hi { return "int needs low <= high, got [\(lo), \(hi)]" }
        case .choice(let values):
            if values.isEmpty { return "choice needs at least one value" }
        }
        return nil
    }

    /// A value from a uniform draw `u` in [0, 1): log-uniform draws are uniform in log space.
    public func sample(_ u: Double) -> TuneValue {
        switch self {
        case .logUniform(let lo, let hi): return .double(exp(log(lo) + u * (log(hi) - log(lo))))
        case .uniform(let lo, let hi): return .double(lo + u * (hi - lo))
        case .int(let lo, let hi): return .int(lo + min(hi - lo, Int(u * Double(hi - lo + 1))))
        case .choice(let values): return values[min(values.count - 1, Int(u * Double(values.count)))]
        }
    }

    /// The grid's values: every choice, every integer (up to `points` evenly spread when there are more), and
    /// `points` evenly spaced values of a continuous range (in log space for log-uniform), ends included.
    public func gridValues(points: Int) -> [TuneValue] {
        let n = max(1, points)
        let spread: (Double, Double) -> [Double] = { lo, hi in
            n == 1 ? [(lo + hi) / 2] : (0..<n).map { lo + (hi - lo) * Double($0) / Double(n - 1) }
        }
        switch self {
        case .logUniform(let lo, let hi): return spread(log(lo), log(hi)).map { .double(exp($0)) }
        case .uniform(let lo, let hi): return spread(lo, hi).map { .double($0) }
        case .int(let lo, let hi):
            if hi - lo + 1 <= n { return (lo...hi).map { .int($0) } }
            return Array(Set(spread(Double(lo), Double(hi)).map { Int($0.rounded()) })).sorted().map { .int($0) }
        case .choice(let values): return values
        }
    }
}
