import Foundation
import Training

/// One rank's typical step, from the medians of its progress windows (each window's per-step means): robust to
/// the epoch-end evaluation a window may span and to bursts from other processes.
public struct RankTiming: Sendable, Codable, Equatable {
    public var rank: Int
    public var medianStepSeconds: Double
    public var medianComputeSeconds: Double
    public var medianAllReduceSeconds: Double
    public var medianWaitSeconds: Double
    /// How much slower this rank computes than the lower median of its group (1.0: typical).
    public var computeRatio: Double
    /// ≥ `StragglerReport.threshold` slower than the median: a straggler.
    public var straggler: Bool

    enum CodingKeys: String, CodingKey {
        case rank
        case medianStepSeconds = "median_step_s"
        case medianComputeSeconds = "median_compute_s"
        case medianAllReduceSeconds = "median_allreduce_s"
        case medianWaitSeconds = "median_wait_s"
        case computeRatio = "compute_ratio"
        case straggler
    }
}

/// Which rank the others waited on: in synchronous data parallelism every step ends with an all-reduce, so the
/// rank that computes slowest sets the pace and the others' time goes into waiting for it (Horovod's timeline
/// answers the same question by eye).
public struct StragglerReport: Sendable, Codable, Equatable {
    /// A rank whose median compute is at least this much above its group's median is a straggler.
    public static let threshold = 1.2
    public var ranks: [RankTiming]
    /// The slowest straggler, when there is one: the rank whose slowness the others waited on.
    public var waitedOn: Int?

    enum CodingKeys: String, CodingKey {
        case ranks
        case waitedOn = "waited_on"
    }

    /// `waited_on` is written as null when no rank stands out, never left out: readers index it.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ranks, forKey: .ranks)
        try c.encode(waitedOn, forKey: .waitedOn)
    }

    /// One human line, e.g. `stragglers: rank 1 computes 2.01× the median (42.0 ms/step); others waited 38% of their steps`.
    public var humanLine: String {
        guard let r = waitedOn, let slow = ranks.first(where: { $0.rank == r }) else {
            let worst = ranks.map(\.computeRatio).max() ?? 1
            return String(format: "stragglers: none (slowest rank computes %.2f× the median)", worst)
        }
        let others = ranks.filter { $0.rank != r }
        let waited = others.map { $0.medianStepSeconds > 0 ? $0.medianWaitSeconds / $0.medianStepSeconds : 0 }
        let waitShare = waited.isEmpty ? 0 : waited.reduce(0, +) / Double(waited.count)
        return String(
            format: "stragglers: rank %d computes %.2f× the median (%.1f ms/step); the others waited %.0f%% of their steps",
            r, slow.computeRatio, slow.medianComputeSeconds * 1000, waitShare * 100)
    }
}

/// The coordinator's per-rank step statistics, fed with every progress report. Memory is bounded: past
/// `capacity` windows a rank keeps every other one (a spread over the whole run, not its tail).
public struct StepStatistics: Sendable {
    struct Samples: Sendable {
        var step: [Double] = [], compute: [Double] = [], allReduce: [Double] = [], wait: [Double] = []
    }
    private var perRank: [Int: Samples] = [:]
    /// The group each rank is compared within (its pipeline stage: stages do different work).
    private let group: @Sendable (Int) -> Int
    let capacity: Int

    public init(capacity: Int = 4096, group: @escaping @Sendable (Int) -> Int = { _ in 0 }) {
        self.capacity = max(capacity, 2)
        self.group = group
    }

    public mutating func add(_ p: ProgressReport) {
        guard p.steps > 0, p.seconds.isFinite, p.seconds >= 0 else { return }
        let n = Double(p.steps)
        var s = perRank[p.rank] ?? Samples()
        s.step.append(p.seconds / n)
        s.compute.append(p.computeSeconds / n)
        s.allReduce.append(p.allReduceSeconds / n)
        s.wait.append(p.waitSeconds / n)
        if s.step.count > capacity {
            func halve(_ a: [Double]) -> [Double] { stride(from: 0, to: a.count, by: 2).map { a[$0] } }
            s = Samples(step: halve(s.step), compute: halve(s.compute), allReduce: halve(s.allReduce), wait: halve(s.wait))
        }
        perRank[p.rank] = s
    }

    /// The report so far; nil before any rank reported.
    public func report() -> StragglerReport? {
        guard !perRank.isEmpty else { return nil }
        var timings = perRank.keys.sorted().map { rank -> RankTiming in
            let s = perRank[rank] ?? Samples()
            return RankTiming(
                rank: rank, medianStepSeconds: median(s.step), medianComputeSeconds: median(s.compute),
                medianAllReduceSeconds: median(s.allReduce), medianWaitSeconds: median(s.wait), computeRatio: 1,
                straggler: false)
        }
        let groups = Dictionary(grouping: timings.indices, by: { group(timings[$0].rank) })
        for members in groups.values where members.count > 1 {
            let typical = lowerMedian(members.map { timings[$0].medianComputeSeconds })
            for i in members where typical > 0 {
                timings[i].computeRatio = timings[i].medianComputeSeconds / typical
                timings[i].straggler = timings[i].computeRatio >= StragglerReport.threshold
            }
        }
        let waitedOn = timings.filter(\.straggler).max { $0.computeRatio < $1.computeRatio }?.rank
        return StragglerReport(ranks: timings, waitedOn: waitedOn)
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// The lower middle value: among two ranks, the faster one, so one slow rank of two is measured against its peer.
func lowerMedian(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    return values.sorted()[(values.count - 1) / 2]
}
