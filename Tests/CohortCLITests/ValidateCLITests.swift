import Foundation
import Testing

/// `cohort validate` as a user runs it: a good file exits 0; each kind of mistake is exactly one stderr line
/// `FILE:LINE: key.path: message` and exit status 1, nothing on stdout.
@Suite(.timeLimit(.minutes(3)))
struct ValidateCLITests {
    /// Writes `yaml` to a scratch file, validates it, and checks the one-line error names the file, the line of
    /// `marker` and `keyPath`.
    func expectOneLineError(_ yaml: String, marker: String, keyPath: String, message: String) throws {
        let dir = try scratchDirectory("validate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cluster.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let line = try #require(lineNumber(of: marker, in: yaml), "marker \(marker) not in the test file")
        let r = try cohort(["validate", path])
        #expect(r.status == 1, "exit \(r.status): \(r.stderr)")
        #expect(r.stdout.isEmpty, "stdout: \(r.stdout)")
        #expect(r.stderrLines.count == 1, "expected one line: \(r.stderr)")
        #expect(r.stderr.hasPrefix("\(path):\(line): \(keyPath): "), "\(r.stderr)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }

    @Test func goodFileExitsZeroAndListsTheRanks() throws {
        let dir = try scratchDirectory("validate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cluster.yaml").path
        try smallClusterYAML(workers: 3, dir: dir).write(toFile: path, atomically: true, encoding: .utf8)
        let r = try cohort(["validate", path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(lastJSONObject(r.stdout), "no JSON in \(r.stdout)")
        #expect(o["event"] as? String == "valid")
        #expect(o["workers"] as? Int == 3)
        let ranks = try #require(o["ranks"] as? [[String: Any]])
        #expect(ranks.map { $0["rank"] as? Int } == [0, 1, 2])
        #expect(ranks.map { $0["port"] as? Int } == [5600, 5601, 5602])
    }

    @Test func unknownKeyNamesItsPathAndLine() throws {
        let dir = try scratchDirectory("unused")
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = smallClusterYAML(workers: 2, dir: dir)
            .replacingOccurrences(of: "  batch_size: 32", with: "  batch_size: 32\n  bacth_size: 64")
        try expectOneLineError(yaml, marker: "bacth_size:", keyPath: "job.bacth_size", message: "unknown key")
    }

    @Test func wrongTypeNamesItsPathAndLine() throws {
        let dir = try scratchDirectory("unused")
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = smallClusterYAML(workers: 2, dir: dir)
            .replacingOccurrences(of: "peer_deadline_s: 15", with: "peer_deadline_s: soon")
        try expectOneLineError(
            yaml, marker: "peer_deadline_s: soon", keyPath: "timeouts.peer_deadline_s", message: "expected a number")
    }

    @Test func missingRequiredKeyNamesItsPath() throws {
        let dir = try scratchDirectory("unused")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A host without an address: the error points at that host's mapping.
        let yaml = smallClusterYAML(workers: 2, dir: dir)
            .replacingOccurrences(of: "  - address: 127.0.0.1\n    workers: 2", with: "  - workers: 2")
        try expectOneLineError(yaml, marker: "- workers: 2", keyPath: "hosts[0].address", message: "missing required key")
    }

    @Test func workersThatDoNotAddUpAreAnError() throws {
        let dir = try scratchDirectory("validate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cluster.yaml").path
        let yaml = smallClusterYAML(workers: 2, dir: dir)
            .replacingOccurrences(of: "{data_parallel: 2}", with: "{data_parallel: 3}")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try cohort(["validate", path])
        #expect(r.status == 1)
        #expect(r.stderrLines.count == 1, "\(r.stderr)")
        #expect(r.stderr.hasPrefix(path) && r.stderr.contains("data_parallel"), "\(r.stderr)")
    }

    @Test func yamlSyntaxErrorAndMissingFileAreOneLine() throws {
        let dir = try scratchDirectory("validate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("broken.yaml").path
        try "cluster:\n  name: [unclosed\nhosts: 3\n".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try cohort(["validate", path])
        #expect(r.status == 1)
        #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("\(path):"), "\(r.stderr)")
        let missing = try cohort(["validate", dir.appendingPathComponent("absent.yaml").path])
        #expect(missing.status == 1)
        #expect(missing.stderrLines.count == 1 && missing.stderr.contains("absent.yaml"), "\(missing.stderr)")
    }
}
