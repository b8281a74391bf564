import Config
import Foundation
import Yams

/// A trial's job: the base `job:` section exactly as the user wrote it, with the trial's values set at their
/// dotted keys and the budget as `epochs` (or `steps`). Written as a YAML file `cohort train --config` reads.
/// (`@unchecked Sendable`: Yams' `Node` is an immutable value tree here, never mutated after `init`.)
public struct TrialJobFile: @unchecked Sendable {
    /// The base `job:` mapping (empty: the defaults).
    public let base: Node
    public let unit: TuneSpec.BudgetUnit

    public init(base: Node?, unit: TuneSpec.BudgetUnit) {
        self.base = base ?? Node.mapping(Node.Mapping([]))
        self.unit = unit
    }

    /// The `job:` section of the YAML file at `path` (nil when it has none).
    public static func jobNode(ofFile path: String) throws -> Node? {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try StrictYAMLDecoder.compose(text, file: path).mapping?["job"]
    }

    /// The YAML text of the trial's job file; `dataPath` replaces `data.path` (the study's decompressed copy).
    public func yaml(config: TrialConfig, budget: Int, dataPath: String? = nil) throws -> String {
        var job = base
        if let dataPath { job = Self.setting(job, path: ["data", "path"], to: Node(dataPath)) }
        for key in config.keys.sorted() {
            guard let value = config[key], let node = try Yams.compose(yaml: value.yaml) else { continue }
            job = Self.setting(job, path: key.split(separator: ".").map(String.init)[...], to: node)
        }
        switch unit {
        case .epochs:
            job = Self.setting(job, path: ["epochs"], to: Node("\(budget)"))
            job = Self.removing(job, key: "steps")
        case .steps:
            job = Self.setting(job, path: ["steps"], to: Node("\(budget)"))
        }
        var root = Node.Mapping([])
        root["job"] = job
        return try Yams.serialize(node: .mapping(root))
    }

    static func setting(_ node: Node, path: ArraySlice<String>, to value: Node) -> Node {
        guard let key = path.first else { return value }
        var mapping = node.mapping ?? Node.Mapping([])
        mapping[key] = setting(mapping[key] ?? .mapping(Node.Mapping([])), path: path.dropFirst(), to: value)
        return .mapping(mapping)
    }

    static func removing(_ node: Node, key: String) -> Node {
        guard var mapping = node.mapping else { return node }
        mapping[key] = nil
        return .mapping(mapping)
    }
}
