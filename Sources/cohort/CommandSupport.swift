import ArgumentParser
import Config
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
