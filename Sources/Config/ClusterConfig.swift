import Foundation

/// The schema of cluster.yaml: where the coordinator and workers run, what they train and how.
/// YAML keys are snake_case. Required: `cluster.coordinator.host/port`, `hosts` (each with `address` and `workers`)
/// and `job`; everything else has a default. Load with `ClusterConfig.load(path:)`, which also validates.
public struct ClusterConfig: Codable, Sendable, Equatable {
    public var cluster: ClusterSection
    public var hosts: [HostSpec]
    /// The same `job:` section `cohort train` reads.
    public var job: JobSpec
    public var parallelism: ParallelismSpec
    /// Absent: no checkpoints are written.
    public var checkpoint: CheckpointSpec?
    public var timeouts: TimeoutSpec
    public var output: OutputSpec
    /// `cohort tune`'s search (ignored by every other command); checked in full by `TuneSpec.load`.
    public var tune: TuneSpec? = nil
    /// Absent: a death ends the job (today's behaviour). See `ElasticSpec`.
    public var elastic: ElasticSpec?

    public init(
        cluster: ClusterSection, hosts: [HostSpec], job: JobSpec = JobSpec(),
        parallelism: ParallelismSpec = ParallelismSpec(), checkpoint: CheckpointSpec? = nil,
        timeouts: TimeoutSpec = TimeoutSpec(), output: OutputSpec = OutputSpec(), elastic: ElasticSpec? = nil
    ) {
        self.cluster = cluster
        self.hosts = hosts
        self.job = job
        self.parallelism = parallelism
        self.checkpoint = checkpoint
        self.timeouts = timeouts
        self.output = output
        self.elastic = elastic
    }

    enum CodingKeys: String, CodingKey {
        case cluster, hosts, job, parallelism, checkpoint, timeouts, output, tune, elastic
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cluster = try c.decode(ClusterSection.self, forKey: .cluster)
        hosts = try c.decode([HostSpec].self, forKey: .hosts)
        job = try c.decode(JobSpec.self, forKey: .job)
        parallelism = try c.decode(.parallelism, default: ParallelismSpec())
        checkpoint = try c.decodeIfPresent(CheckpointSpec.self, forKey: .checkpoint)
        timeouts = try c.decode(.timeouts, default: TimeoutSpec())
        output = try c.decode(.output, default: OutputSpec())
        tune = try c.decodeIfPresent(TuneSpec.self, forKey: .tune)
        elastic = try c.decodeIfPresent(ElasticSpec.self, forKey: .elastic)
    }
}

/// `cluster:` — the control plane (coordinator) and the data plane (worker-to-worker ports).
public struct ClusterSection: Codable, Sendable, Equatable {
    public var name: String
    public var coordinator: CoordinatorAddress
    /// Ports the workers of one host listen on for worker-to-worker traffic: local worker i takes `first + i`.
    public var dataPorts: PortRange
    /// What workers and the coordinator bind to: `*` (all interfaces), an IP address or an interface name (`eth0`).
    /// Omitted (empty): each process binds the address of its own host (`coordinator.host`, `hosts[].address`,
    /// a name resolved to its address), never all interfaces.
    public var interface: String
    public var security: SecuritySpec

    /// The default of each omitted key, shared by `init` and the decoder.
    public enum Defaults {
        public static let name = "cohort"
        public static let dataPorts = PortRange(first: 5600)
        public static let interface = ""
    }

    public init(
        name: String = Defaults.name, coordinator: CoordinatorAddress, dataPorts: PortRange = Defaults.dataPorts,
        interface: String = Defaults.interface, security: SecuritySpec = SecuritySpec()
    ) {
        self.name = name
        self.coordinator = coordinator
        self.dataPorts = dataPorts
        self.interface = interface
        self.security = security
    }

    enum CodingKeys: String, CodingKey {
        case name, coordinator
        case dataPorts = "data_ports"
        case interface, security
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(.name, default: Defaults.name)
        coordinator = try c.decode(CoordinatorAddress.self, forKey: .coordinator)
        dataPorts = try c.decode(.dataPorts, default: Defaults.dataPorts)
        interface = try c.decode(.interface, default: Defaults.interface)
        security = try c.decode(.security, default: SecuritySpec())
    }
}

/// `cluster.coordinator:` — where workers find the coordinator.
public struct CoordinatorAddress: Codable, Sendable, Equatable {
    public var host: String
    public var port: Int
    /// `standby: {host, port}`: a second coordinator (`cohort coordinator --standby`) that the workers report to
    /// when this one goes silent past the peer deadline; it takes the job over without stopping training.
    public var standby: StandbyCoordinator?
    public init(host: String, port: Int, standby: StandbyCoordinator? = nil) {
        self.host = host
        self.port = port
        self.standby = standby
    }
    /// The ZeroMQ endpoint workers connect to, e.g. `tcp://127.0.0.1:5555`.
    public var endpoint: String { "tcp://\(host):\(port)" }
}

/// `cluster.coordinator.standby:` — where the standby coordinator listens.
public struct StandbyCoordinator: Codable, Sendable, Equatable {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var endpoint: String { "tcp://\(host):\(port)" }
}

/// A port or an inclusive range of ports. In YAML either `5600` (a base port: as many ports as needed from there)
/// or `5600-5663` (exactly these ports).
public struct PortRange: Codable, Sendable, Equatable, CustomStringConvertible {
    public var first: Int
    /// nil: open-ended (up to 65535).
    public var last: Int?

    public init(first: Int, last: Int? = nil) {
        self.first = first
        self.last = last
    }

    /// How many ports the range holds.
    public var count: Int { (last ?? 65535) - first + 1 }

    public func contains(_ port: Int) -> Bool { port >= first && port <= (last ?? 65535) }

    public var description: String { last.map { "\(first)-\($0)" } ?? "\(first)" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let port = try? container.decode(Int.self) {
            self.init(first: port)
            return
        }
        guard let text = try? container.decode(String.self) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected a port (5600) or a port range (5600-5663)")
        }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let first = parts[0], let last = parts[1] else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected a port (5600) or a port range (5600-5663), got \"\(text)\"")
        }
        self.init(first: first, last: last)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let last { try container.encode("\(first)-\(last)") } else { try container.encode(first) }
    }
}

/// `cluster.security:` — how every socket authenticates its peers: ZeroMQ CURVE (encrypted), or with curve off
/// the job's token (a shared secret checked in the PLAIN handshake; `token_file`, or generated by `launch`).
public struct SecuritySpec: Codable, Sendable, Equatable {
    public var curve: Bool
    /// With curve off: a file holding the job's token (one line, 16–255 printable characters), for workers and
    /// coordinators started by hand. `cohort launch` generates a token when this is absent.
    public var tokenFile: String?
    /// The cluster's key pair, as written by `cohort keys --output FILE` (`curve_public_key:` and
    /// `curve_secret_key:` in Z85). Every member holds the same pair; required when `curve` is on.
    public var keyFile: String?

    /// The default of an omitted key, shared by `init` and the decoder.
    public enum Defaults {
        public static let curve = false
    }

    public init(curve: Bool = Defaults.curve, keyFile: String? = nil, tokenFile: String? = nil) {
        self.curve = curve
        self.keyFile = keyFile
        self.tokenFile = tokenFile
    }

    enum CodingKeys: String, CodingKey {
        case curve
        case keyFile = "key_file"
        case tokenFile = "token_file"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        curve = try c.decode(.curve, default: Defaults.curve)
        keyFile = try c.decodeIfPresent(String.self, forKey: .keyFile)
        tokenFile = try c.decodeIfPresent(String.self, forKey: .tokenFile)
    }

    /// Reads `key_file` (strictly: unknown keys or malformed keys are `ConfigError`s naming that file).
    /// nil when CURVE is off.
    public func loadKeys() throws(ConfigError) -> CurveKeyFile? {
        guard curve else { return nil }
        guard let keyFile, !keyFile.isEmpty else {
            throw ConfigError(
                file: "cluster.yaml", line: nil, keyPath: "cluster.security.key_file", message: "required when curve is true")
        }
        let text: String
        do { text = try String(contentsOfFile: keyFile, encoding: .utf8) } catch {
            throw ConfigError(
                file: keyFile, line: nil, keyPath: "",
                message: FileManager.default.fileExists(atPath: keyFile)
                    ? "cannot read the key file" : "no such file (create it with `cohort keys --output \(keyFile)`)")
        }
        let root = try StrictYAMLDecoder.compose(text, file: keyFile)
        let keys = try StrictYAMLDecoder().decode(CurveKeyFile.self, from: root, file: keyFile)
        for (key, value) in [("curve_public_key", keys.publicKey), ("curve_secret_key", keys.secretKey)]
        where !CurveKeyFile.isZ85Key(value) {
            throw ConfigError(
                file: keyFile, line: StrictYAMLDecoder.line(of: [ConfigKey(stringValue: key)], in: root), keyPath: key,
                message: "expected a 40-character Z85 key, got \(value.count) characters")
        }
        return keys
    }
}

/// The contents of a `cohort keys` file: the cluster's CURVE key pair in Z85 (40 characters each).
public struct CurveKeyFile: Codable, Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String
    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
    enum CodingKeys: String, CodingKey {
        case publicKey = "curve_public_key"
        case secretKey = "curve_secret_key"
    }

    static let z85Alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")
    static func isZ85Key(_ text: String) -> Bool { text.count == 40 && text.allSatisfy { z85Alphabet.contains($0) } }
}

/// One entry of `hosts:` — a machine and how many workers run on it.
public struct HostSpec: Codable, Sendable, Equatable {
    /// Address the other members reach this host at (and, unless it is local, where `cohort launch` ssh-es to).
    public var address: String
    public var workers: Int
    /// Login for `cohort launch` over ssh; nil: the current user (or ssh's own config).
    public var sshUser: String?

    public init(address: String, workers: Int, sshUser: String? = nil) {
        self.address = address
        self.workers = workers
        self.sshUser = sshUser
    }

    enum CodingKeys: String, CodingKey {
        case address, workers
        case sshUser = "ssh_user"
    }
}

/// Pipeline schedules: GPipe (all forwards, then all backwards) or 1F1B (one forward, one backward: less memory).
public enum PipelineSchedule: String, ConfigEnum {
    case gpipe
    case oneForwardOneBackward = "1f1b"
}

/// `parallelism:` — how the workers split the work: `data_parallel` replicas × `pipeline_stages` stages.
public struct ParallelismSpec: Codable, Sendable, Equatable {
    /// nil: every worker not needed for pipeline stages is a replica (total workers / pipeline_stages).
    public var dataParallel: Int?
    public var pipelineStages: Int
    /// Micro-batches per replica batch (pipeline only).
    public var microBatches: Int
    public var schedule: PipelineSchedule
    /// An explicit split: how many Dense layers (each with its activation) each stage runs, first stage first.
    /// nil: balanced automatically by estimated FLOPs.
    public var stageLayers: [Int]?
    /// Local SGD / DiLoCo: synchronise every H steps instead of every step; nil: every step (plain data parallel).
    public var sync: SyncSpec?
    /// Gradient compression; nil: the plain fp32 sum.
    public var gradient: GradientSpec?

    /// The default of each omitted key, shared by `init` and the decoder.
    public enum Defaults {
        public static let pipelineStages = 1
        public static let microBatches = 1
        public static let schedule = PipelineSchedule.gpipe
    }

    public init(
        dataParallel: Int? = nil, pipelineStages: Int = Defaults.pipelineStages, microBatches: Int = Defaults.microBatches,
        schedule: PipelineSchedule = Defaults.schedule, stageLayers: [Int]? = nil, sync: SyncSpec? = nil,
        gradient: GradientSpec? = nil
    ) {
        self.dataParallel = dataParallel
        self.pipelineStages = pipelineStages
        self.microBatches = microBatches
        self.schedule = schedule
        self.stageLayers = stageLayers
        self.sync = sync
        self.gradient = gradient
    }

    enum CodingKeys: String, CodingKey {
        case dataParallel = "data_parallel"
        case pipelineStages = "pipeline_stages"
        case microBatches = "micro_batches"
        case schedule
        case stageLayers = "stage_layers"
        case sync
        case gradient
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dataParallel = try c.decodeIfPresent(Int.self, forKey: .dataParallel)
        pipelineStages = try c.decode(.pipelineStages, default: Defaults.pipelineStages)
        microBatches = try c.decode(.microBatches, default: Defaults.microBatches)
        schedule = try c.decode(.schedule, default: Defaults.schedule)
        stageLayers = try c.decodeIfPresent([Int].self, forKey: .stageLayers)
        sync = try c.decodeIfPresent(SyncSpec.self, forKey: .sync)
        gradient = try c.decodeIfPresent(GradientSpec.self, forKey: .gradient)
    }
}

/// `checkpoint:` — where and how often the coordinator has the workers save.
public struct CheckpointSpec: Codable, Sendable, Equatable {
    public var directory: String
    /// Save after every N epochs; default 1 when neither this nor `every_steps` is set.
    public var everyEpochs: Int?
    /// Save every N optimizer steps (also mid-epoch).
    public var everySteps: Int?
    /// How many of the newest checkpoints to keep.
    public var keep: Int

    /// The default of an omitted key, shared by `init` and the decoder.
    public enum Defaults {
        public static let keep = 3
    }

    public init(directory: String, everyEpochs: Int? = nil, everySteps: Int? = nil, keep: Int = Defaults.keep) {
        self.directory = directory
        self.everyEpochs = everyEpochs
        self.everySteps = everySteps
        self.keep = keep
    }

    enum CodingKeys: String, CodingKey {
        case directory
        case everyEpochs = "every_epochs"
        case everySteps = "every_steps"
        case keep
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        directory = try c.decode(String.self, forKey: .directory)
        everyEpochs = try c.decodeIfPresent(Int.self, forKey: .everyEpochs)
        everySteps = try c.decodeIfPresent(Int.self, forKey: .everySteps)
        keep = try c.decode(.keep, default: Defaults.keep)
    }

    /// Whether a checkpoint is due after `step` (1-based count of optimizer steps done) or at the end of `epoch`.
    public func isDue(afterStep step: Int? = nil, afterEpoch epoch: Int? = nil) -> Bool {
        if let step, let everySteps, step % everySteps == 0 { return true }
        if let epoch {
            let every = everyEpochs ?? (everySteps == nil ? 1 : nil)
            if let every, epoch % every == 0 { return true }
        }
        return false
    }
}

/// `timeouts:` — in seconds. A peer that sends nothing for `peer_deadline_s` is declared dead.
public struct TimeoutSpec: Codable, Sendable, Equatable {
    public var heartbeatInterval: Double
    public var peerDeadline: Double
    /// How long the coordinator waits for all workers to register.
    public var rendezvousTimeout: Double

    /// The default of each omitted key, shared by `init` and the decoder.
    public enum Defaults {
        public static let heartbeatInterval = 0.5
        public static let peerDeadline = 5.0
        public static let rendezvousTimeout = 60.0
    }

    public init(
        heartbeatInterval: Double = Defaults.heartbeatInterval, peerDeadline: Double = Defaults.peerDeadline,
        rendezvousTimeout: Double = Defaults.rendezvousTimeout
    ) {
        self.heartbeatInterval = heartbeatInterval
        self.peerDeadline = peerDeadline
        self.rendezvousTimeout = rendezvousTimeout
    }

    enum CodingKeys: String, CodingKey {
        case heartbeatInterval = "heartbeat_interval_s"
        case peerDeadline = "peer_deadline_s"
        case rendezvousTimeout = "rendezvous_timeout_s"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        heartbeatInterval = try c.decode(.heartbeatInterval, default: Defaults.heartbeatInterval)
        peerDeadline = try c.decode(.peerDeadline, default: Defaults.peerDeadline)
        rendezvousTimeout = try c.decode(.rendezvousTimeout, default: Defaults.rendezvousTimeout)
    }
}

/// `output:` — where the coordinator writes metrics (JSON lines), plots and logs, and its HTTP endpoint;
/// nil: not written (no endpoint).
public struct OutputSpec: Codable, Sendable, Equatable {
    public var metricsFile: String?
    public var plotDirectory: String?
    /// The coordinator's HTTP endpoint (`/metrics`, `/api/status`, `/`); nil: off.
    public var http: HTTPSpec?
    /// JSON log lines (one object per line, with rank and host), beside the human lines on stderr.
    public var logFile: String?

    public init(metricsFile: String? = nil, plotDirectory: String? = nil, http: HTTPSpec? = nil, logFile: String? = nil) {
        self.metricsFile = metricsFile
        self.plotDirectory = plotDirectory
        self.http = http
        self.logFile = logFile
    }

    enum CodingKeys: String, CodingKey {
        case metricsFile = "metrics_file"
        case plotDirectory = "plot_directory"
        case http
        case logFile = "log_file"
    }
}
