import CohortTestSupport
import Foundation
import Testing

/// `cohort validate` end to end, with the built binary (scripts/test.sh builds it before the tests run).
@Suite struct ValidateCommandTests {
    func run(_ arguments: [String]) throws -> ProcessRunner.Result {
        try ProcessRunner.run(requireCohortBinary().path, arguments, timeout: 30)
    }

    @Test(.timeLimit(.minutes(3))) func goodFilePrintsTheLayoutAndExitsZero() throws {
        let result = try run(["validate", TestFiles.repo("cluster.yaml")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("workers: 2 = 2 data-parallel × 1 pipeline stage"))
        #expect(result.stdout.contains("rank 1: 127.0.0.1 worker 1, data port 5601, stage 0, replica 1"))
        let json = try run(["validate", TestFiles.repo("cluster.yaml"), "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["workers"] as? Int == 2)
        #expect((object["ranks"] as? [[String: Any]])?.count == 2)
    }

    @Test(.timeLimit(.minutes(3))) func badFileIsOneLineOnStderrAndExitOne() throws {
        let dir = try TestFiles.scratchDirectory("validate")
        defer { TestFiles.cleanup(dir) }
        let path = dir.appendingPathComponent("cluster.yaml").path
        let text = try String(contentsOfFile: TestFiles.repo("cluster.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "    workers: 2", with: "    workers: lots")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let line = text.components(separatedBy: "\n").firstIndex { $0.contains("workers: lots") }! + 1
        let result = try run(["validate", path])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "\(path):\(line): hosts[0].workers: expected an integer, got \"lots\"\n")
        let missing = try run(["validate", dir.appendingPathComponent("nope.yaml").path])
        #expect(missing.status == 1)
        #expect(missing.stderr.hasSuffix("nope.yaml: no such file\n"))
    }
}
