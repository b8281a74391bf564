import Foundation
import Yams

/// A semantic problem found after decoding (the types were right, the values don't fit together).
public struct ConfigIssue: Equatable, Sendable, CustomStringConvertible {
    public var path: [ConfigKey]
    public var message: String
    public init(_ path: [ConfigKey], _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(renderKeyPath(path)): \(message)" }
}

extension ClusterConfig {
    /// Reads, decodes and validates a cluster.yaml. Every failure, from a missing file to workers that don't add up,
    /// is one `ConfigError` naming the file, line and key path.
    public static func load(path: String) throws(ConfigError) -> ClusterConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file as UTF-8 text" : "no such file"
            throw ConfigError(file: path, line: nil, keyPath: "", message: reason)
        }
        return try parse(text, file: path)
    }

    /// Decodes and validates cluster.yaml text; `file` names it in errors.
    public static func parse(_ yaml: String, file: String = "<string>") throws(ConfigError) -> ClusterConfig {
        let root = try StrictYAMLDecoder.compose(yaml, file: file)
        let config = try StrictYAMLDecoder().decode(ClusterConfig.self, from: root, file: file)
        if let issue = config.validationIssues().first {
            throw ConfigError(
                file: file, line: StrictYAMLDecoder.line(of: issue.path, in: root),
                keyPath: renderKeyPath(issue.path), message: issue.message)
        }
        return config
    }

    /// The config as YAML (snake_case keys) that `parse` reads back to an equal value.
    public func yaml() throws -> String {
        try YAMLEncoder().encode(self)
    }

    /// Workers over all hosts.
    public var totalWorkers: Int { hosts.reduce(0) { $0 + min(max($1.workers, 0), ConfigLimits.maximumWorkersPerHost) } }

    /// The resolved data-parallel degree: `parallelism.data_parallel`, or all workers over the pipeline stages.
    public var dataParallelDegree: Int {
        parallelism.dataParallel ?? max(1, totalWorkers / max(1, parallelism.pipelineStages))
    }

    /// The rank grid. Only meaningful for a validated config.
    public var rankLayout: RankLayout {
        RankLayout(dataParallel: max(1, dataParallelDegree), pipelineStages: max(1, parallelism.pipelineStages))
    }

    /// Ranks in the order the hosts list them (host 0's workers first). The coordinator may hand out ranks in
    /// registration order instead; this is the static plan `cohort validate` and `cohort launch` show.
    public func plannedRanks() -> [PlannedRank] {
        var result: [PlannedRank] = []
        let layout = rankLayout
        for (hostIndex, host) in hosts.enumerated() {
            for local in 0..<max(host.workers, 0) {
                let rank = result.count
                let coords = rank < layout.worldSize ? layout.coordinates(ofRank: rank) : RankCoordinates(stage: 0, replica: rank)
                result.append(
                    PlannedRank(
                        rank: rank, hostIndex: hostIndex, address: host.address, localIndex: local,
                        dataPort: cluster.dataPorts.first + local, coordinates: coords))
            }
        }
        return result
    }
}

/// One worker slot of the static plan.
public struct PlannedRank: Equatable, Sendable {
    public var rank: Int
    public var hostIndex: Int
    public var address: String
    /// Index among the workers of its host.
    public var localIndex: Int
    public var dataPort: Int
    public var coordinates: RankCoordinates
    /// The data-plane endpoint peers connect to, e.g. `tcp://10.0.0.2:5601`.
    public var dataEndpoint: String { "tcp://\(address):\(dataPort)" }
}
