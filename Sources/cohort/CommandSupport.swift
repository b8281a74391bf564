import ArgumentParser
import Foundation
import Runtime

/// A failure reported as one line on stderr with a non-zero exit, without a stack trace or usage text.
struct CohortFailure: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

func loadClusterConfig(_ path: String) throws -> ClusterConfig {
    do {
        return try ClusterConfig.load(path: path)
    } catch {
        throw CohortFailure("\(error)")
    }
}

/// One JSON object on one stdout line, keys sorted.
func printJSONLine(_ object: [String: Any]) {
    let data =
        (try? JSONSerialization.data(withJSONObject: object.mapValues(jsonSafe), options: [.sortedKeys])) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

private func jsonSafe(_ v: Any) -> Any {
    if let d = v as? Double, !d.isFinite { return NSNull() }
    if let f = v as? Float, !f.isFinite { return NSNull() }
    return v
}
