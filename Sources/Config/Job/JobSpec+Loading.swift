import Foundation

extension JobSpec {
    /// The `job:` section of a YAML file (a cluster.yaml or a file holding only `job:`), decoded strictly: an unknown
    /// or mistyped key under `job:` is a `ConfigError` naming file, line and key path. Other top-level sections are
    /// ignored here (cluster.yaml's own loader checks them).
    public static func load(configFile path: String) throws -> JobSpec {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(
                file: path, line: nil, keyPath: "",
                message: FileManager.default.fileExists(atPath: path) ? "not readable as UTF-8 text" : "no such file")
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws -> JobSpec {
        try StrictYAMLDecoder().decode(JobSection.self, from: yaml, file: file).job
    }
}

/// A document with a `job:` key and anything else beside it.
private struct JobSection: Decodable {
    let job: JobSpec

    struct AnyKey: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        job = try c.decode(JobSpec.self, forKey: AnyKey(stringValue: "job"))
    }
}
