import Foundation

/// Paths of files in the repository and scratch directories for tests.
enum TestFiles {
    /// The repository root, found from this file's location (Tests/RuntimeTests/TestFiles.swift).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func repo(_ relative: String) -> String { repoRoot.appendingPathComponent(relative).path }

    /// A fresh empty directory under the system temp dir; removed by the caller with `cleanup`.
    static func scratchDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("cohort-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func cleanup(_ url: URL) { try? FileManager.default.removeItem(at: url) }
}
