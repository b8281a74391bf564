import Config
import Foundation

/// The control plane's vocabulary (coordinator ⇄ workers over ROUTER/DEALER). Small JSON messages: the control
/// plane carries no tensors, so readability and versioning matter more than bytes.
public enum ControlMessage: Codable, Sendable {
    case register(Registration)
    case assign(Assignment)
    case heartbeat(rank: Int)
    case progress(ProgressReport)
    case epoch(EpochReport)
    case checkpointed(rank: Int, step: Int, path: String)
    case done(FinalReport)
    case failed(rank: Int, message: String)
    case stop(reason: String)
    /// Elastic training: a survivor's first completed step in a new membership (times, agreement, bytes copied).
    case recovered(RecoveryReport)
    /// Elastic training fell below `elastic.min_workers`: the job stops, and the worker told this (the lowest
    /// surviving rank) first saves its last completed step when `checkpoint:` is configured.
    case finalCheckpoint(reason: String)
    /// Elastic training, the first half of a join: the job a would-be joiner loads its data for while the members
    /// train on. It is not a member yet (its rank, peer table and membership come with the `assign` after `ready`);
    /// `peers` holds the members' data endpoints then, for it to connect to while it loads.
    case prepare(Assignment)
    /// The would-be joiner's answer to `prepare`: its data is loaded, so admitting it now stalls the members only
    /// for the new ring and the state copy, not for its start-up.
    case ready(pid: Int32)
    /// To a standby coordinator, from a worker whose coordinator went silent past the peer deadline: who it is and
    /// where it stands. Once every member of that membership has said so, the standby takes the job over.
    case rejoin(Rejoin)

    /// Bumped whenever a message changes shape; a worker of another version is refused at registration.
    /// 4: `recovered`. 5: `finalCheckpoint`. 6: `recovered` carries the state copy's time and rate, and a broadcast
    /// takes the ring links (shared memory on one host), where a worker of 5 would wait for it on its socket.
    /// 7: a join is `prepare` → `ready` → `assign` (a joiner of 6 would wait for an `assign` that never comes).
    /// 8: a join's `assign` lets the members finish their step (`Assignment.admitsJoiner`): a member of 7 would
    /// abort it at once and wait in the new membership for members still in the old one.
    /// 9: `rejoin`, and `Assignment.standby`.
    public static let protocolVersion = 9

    /// Losses and rates can be NaN or ∞ when a run diverges, and JSON has no such numbers: they travel as the
    /// strings "nan", "inf" and "-inf" (the default strategy threw, and a `try!` here killed the workers).
    static let nonFinite = (positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: Self.nonFinite.positiveInfinity, negativeInfinity: Self.nonFinite.negativeInfinity,
            nan: Self.nonFinite.nan)
        do {
            return Array(try encoder.encode(self))
        } catch {
            // Unreachable with the strategy above (plain structs, every float representable); a message that says
            // so is better than a crash.
            let text = "\(error)".replacingOccurrences(of: "\"", with: "'")
            return Array("{\"failed\":{\"rank\":-1,\"message\":\"cannot encode a control message: \(text)\"}}".utf8)
        }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, from peer: String) throws -> ControlMessage {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: nonFinite.positiveInfinity, negativeInfinity: nonFinite.negativeInfinity, nan: nonFinite.nan)
        do {
            return try decoder.decode(ControlMessage.self, from: Data(bytes))
        } catch {
            throw RuntimeError.protocolViolation("malformed control message from \(peer) (\(bytes.count) bytes)")
        }
    }
}

/// What a worker says about itself when it joins.
public struct Registration: Codable, Sendable {
    public var host: String
    public var pid: Int32
    public var cores: Int
    public var protocolVersion: Int
    /// Where its data-plane inbox listens (already bound).
    public var dataEndpoint: String
    /// Its index among the workers of its host, when the launcher gave one: fixes rank order.
    public var localIndex: Int?

    public init(host: String, pid: Int32, cores: Int, protocolVersion: Int, dataEndpoint: String, localIndex: Int?) {
        self.host = host
        self.pid = pid
        self.cores = cores
        self.protocolVersion = protocolVersion
        self.dataEndpoint = dataEndpoint
        self.localIndex = localIndex
    }
}

/// Everything a worker needs to run: its place in the grid, its peers, and the job.
public struct Assignment: Codable, Sendable {
    /// Which membership of the job this is: `WireHeader.firstEpoch` (0) for the first, one more for each
    /// re-formed one. Every data-plane frame carries it, so frames of an earlier membership are never taken for
    /// this one's. Without `elastic` a job holds one membership; with it, each loss forms the next.
    public var membershipEpoch: UInt32
    public var rank: Int
    public var worldSize: Int
    public var peers: [String]
    public var hosts: [String]
    public var layout: RankLayout
    public var job: JobSpec
    public var parallelism: ParallelismSpec
    public var timeouts: TimeoutSpec
    public var checkpoint: CheckpointSpec?
    public var run: RunOptions
    /// The job's `elastic:` policy: nil, a collective that fails ends the worker; set, the worker waits for the
    /// coordinator's next membership and goes on in it.
    public var elastic: ElasticSpec? = nil
    /// A membership formed to admit a joiner (not after a loss): the members finish the step in flight and leave
    /// the old membership at the next step boundary, so nothing is redone; a loss's membership aborts the step in
    /// flight at once, since a dead peer would never finish it. nil on every other assignment.
    public var admitsJoiner: Bool? = nil
    /// On a would-be joiner's `prepare`: the furthest step the members had reported (reports trail by up to a
    /// second), so that it computes the epochs' permutations around it while it loads. nil otherwise.
    public var membersStep: Int? = nil
    /// `cluster.coordinator.standby`'s endpoint: where this worker reports when the coordinator goes silent.
    public var standby: String? = nil

    public init(
        rank: Int, worldSize: Int, peers: [String], hosts: [String], layout: RankLayout, job: JobSpec,
        parallelism: ParallelismSpec, timeouts: TimeoutSpec, checkpoint: CheckpointSpec?, run: RunOptions,
        membershipEpoch: UInt32 = 0
    ) {
        self.membershipEpoch = membershipEpoch
        self.rank = rank
        self.worldSize = worldSize
        self.peers = peers
        self.hosts = hosts
        self.layout = layout
        self.job = job
        self.parallelism = parallelism
        self.timeouts = timeouts
        self.checkpoint = checkpoint
        self.run = run
    }
}

/// A worker's `rejoin`: its registration (host, pid, data endpoint, protocol), and its rank in the membership it
/// was training in when the coordinator went silent.
public struct Rejoin: Codable, Sendable {
    public var registration: Registration
    public var rank: Int
    public var worldSize: Int
    public var membershipEpoch: UInt32
    public init(registration: Registration, rank: Int, worldSize: Int, membershipEpoch: UInt32) {
        self.registration = registration
        self.rank = rank
        self.worldSize = worldSize
        self.membershipEpoch = membershipEpoch
    }
}

/// Switches of one run that are not part of the job's recipe.
public struct RunOptions: Codable, Sendable, Equatable {
    /// false: skip the gradient all-reduce (a diagnostic: the compute-only ceiling; replicas then diverge).
    public var allReduce: Bool = true
    /// Gradient bucket size for the overlapped all-reduce.
    public var bucketBytes: Int = 128 << 10
    /// GEMM threads per worker.
    public var threads: Int = 1
    /// Resume from the newest valid checkpoint in the checkpoint directory.
    public var resume: Bool = false
    /// Write a Chrome trace of this run's spans.
    public var tracePath: String? = nil
    /// Steps at the start that the steady-state window (`FinalReport.steady`) leaves out: start-up, first-touch
    /// page faults and socket warm-up make them slower than the rest (`bench scaling`). nil: no window.
    public var warmupSteps: Int? = nil
    public init() {}
}

/// Progress since the last report of one rank.
public struct ProgressReport: Codable, Sendable {
    public var rank: Int
    public var epoch: Int
    public var step: Int
    public var stepsPerEpoch: Int
    public var totalSteps: Int
    public var steps: Int
    public var samples: Int
    public var loss: Double
    public var accuracy: Double
    public var seconds: Double
    public var computeSeconds: Double
    public var allReduceSeconds: Double
    public var waitSeconds: Double
    /// The bytes this rank has sent to each peer so far, by transport (nil: not counted, or an older worker), for
    /// the status endpoint's per-link counters while the run goes on.
    public var links: [ReportedLink]? = nil

    public init(
        rank: Int, epoch: Int, step: Int, stepsPerEpoch: Int, totalSteps: Int, steps: Int, samples: Int, loss: Double,
        accuracy: Double, seconds: Double, computeSeconds: Double, allReduceSeconds: Double, waitSeconds: Double
    ) {
        self.rank = rank
        self.epoch = epoch
        self.step = step
        self.stepsPerEpoch = stepsPerEpoch
        self.totalSteps = totalSteps
        self.steps = steps
        self.samples = samples
        self.loss = loss
        self.accuracy = accuracy
        self.seconds = seconds
        self.computeSeconds = computeSeconds
        self.allReduceSeconds = allReduceSeconds
        self.waitSeconds = waitSeconds
    }
}

/// End-of-epoch figures of one rank: its share of the test set.
public struct EpochReport: Codable, Sendable {
    public var rank: Int
    public var epoch: Int
    public var trainLoss: Double
    public var testCorrect: Int
    public var testCount: Int
    public var testLossSum: Double
}

/// One rank's summary when it finishes.
public struct FinalReport: Codable, Sendable {
    public var rank: Int
    public var weightChecksum: String
    public var steps: Int
    public var samples: Int
    public var seconds: Double
    public var computeSeconds: Double
    public var allReduceSeconds: Double
    public var waitSeconds: Double
    public var testCorrect: Int
    public var testCount: Int
    /// The steps after `RunOptions.warmupSteps` (nil when no warm-up was asked for).
    public var steady: StepWindow? = nil
    /// The bytes this rank sent to each peer, by transport, as its data plane counted them.
    public var links: [ReportedLink]? = nil
    /// Socket bytes this rank sent during the steady-state window (nil without a warm-up): the per-step traffic
    /// without the start-up's weight broadcast and link set-up.
    public var steadySocketBytes: UInt64? = nil
}

/// Bytes one rank sent to one peer through one transport ("socket" or "shm") over the whole run.
public struct ReportedLink: Codable, Sendable, Equatable {
    public var peer: Int
    public var transport: String
    public var bytes: UInt64

    public init(peer: Int, transport: String, bytes: UInt64) {
        self.peer = peer
        self.transport = transport
        self.bytes = bytes
    }
}

/// Sums over a run of training steps of one rank, for steady-state step times. `seconds` is the steps' own
/// wall time (batch loading to optimizer update), so epoch-end evaluation is not in it.
public struct StepWindow: Codable, Sendable, Equatable {
    public var steps: Int = 0
    public var samples: Int = 0
    public var seconds: Double = 0
    public var computeSeconds: Double = 0
    public var allReduceSeconds: Double = 0
    public var waitSeconds: Double = 0
    /// The median of the steps' wall times: robust to the bursts other processes on a shared machine cause.
    public var medianStepSeconds: Double? = nil
    /// The median of the steps' compute times (step minus the wait for the all-reduce), for the same reason.
    public var medianComputeSeconds: Double? = nil
    public init() {}
    public init(steps: Int, samples: Int, seconds: Double, computeSeconds: Double, allReduceSeconds: Double, waitSeconds: Double)
    {
        self.steps = steps
        self.samples = samples
        self.seconds = seconds
        self.computeSeconds = computeSeconds
        self.allReduceSeconds = allReduceSeconds
        self.waitSeconds = waitSeconds
    }
}
