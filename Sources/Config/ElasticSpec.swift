/// `elastic:` — what a job does when a worker dies or joins (issue 14). Absent: today's rule, the first death ends
/// the job with the last checkpoint valid. Present: the job goes on while at least `min_workers` remain, with the
/// survivors renumbered in the cluster file's order and the global batch resharded over them; `launch` restarts a
/// dead local or ssh worker up to `restart.max_restarts` times, `restart.backoff_s` apart, and a restarted or new
/// worker joins at a step boundary within `join_timeout_s`.
public struct ElasticSpec: Codable, Sendable, Equatable {
    /// Below this many workers the job stops, with a final checkpoint.
    public var minWorkers: Int
    /// At most this many workers at once (joiners beyond it are refused); nil: the hosts' worker count.
    public var maxWorkers: Int?
    public var restart: RestartPolicy
    /// How long a joining worker may take from registration to its first step before it is given up on.
    public var joinTimeout: Double
    /// Bitwise recovery: every batch splits into `max_workers` logical shards whatever the membership, and their
    /// gradients are summed exactly (`DeterministicGradientSum`), so the weights do not depend on who was up.
    public var deterministic: Bool

    public enum Defaults {
        public static let minWorkers = 1
        public static let joinTimeout = 60.0
        public static let deterministic = false
    }

    public init(
        minWorkers: Int = Defaults.minWorkers, maxWorkers: Int? = nil, restart: RestartPolicy = RestartPolicy(),
        joinTimeout: Double = Defaults.joinTimeout, deterministic: Bool = Defaults.deterministic
    ) {
        self.minWorkers = minWorkers
        self.maxWorkers = maxWorkers
        self.restart = restart
        self.joinTimeout = joinTimeout
        self.deterministic = deterministic
    }

    enum CodingKeys: String, CodingKey {
        case minWorkers = "min_workers"
        case maxWorkers = "max_workers"
        case restart
        case joinTimeout = "join_timeout_s"
        case deterministic
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        minWorkers = try c.decode(.minWorkers, default: Defaults.minWorkers)
        maxWorkers = try c.decodeIfPresent(Int.self, forKey: .maxWorkers)
        restart = try c.decode(.restart, default: RestartPolicy())
        joinTimeout = try c.decode(.joinTimeout, default: Defaults.joinTimeout)
        deterministic = try c.decode(.deterministic, default: Defaults.deterministic)
    }

    /// The most workers the job may hold: `max_workers`, else the cluster file's count.
    public func maximum(configured workers: Int) -> Int { maxWorkers ?? workers }
}

/// `elastic.restart:` — how often `launch` restarts a dead worker, and how long it waits before each restart.
public struct RestartPolicy: Codable, Sendable, Equatable {
    /// Restarts over the whole job (all workers together), as torchrun's `--max-restarts`.
    public var maxRestarts: Int
    public var backoff: Double

    public enum Defaults {
        public static let maxRestarts = 3
        public static let backoff = 1.0
    }

    public init(maxRestarts: Int = Defaults.maxRestarts, backoff: Double = Defaults.backoff) {
        self.maxRestarts = maxRestarts
        self.backoff = backoff
    }

    enum CodingKeys: String, CodingKey {
        case maxRestarts = "max_restarts"
        case backoff = "backoff_s"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxRestarts = try c.decode(.maxRestarts, default: Defaults.maxRestarts)
        backoff = try c.decode(.backoff, default: Defaults.backoff)
    }
}

extension ConfigLimits {
    /// Restarts over a job: enough for weeks of failures, small enough that counting them never matters.
    public static let maximumRestarts = 10_000
}
