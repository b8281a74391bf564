import CohortTestSupport
import Foundation
import Testing

/// A global batch that does not divide over the workers, end to end: `validate` accepts it and says how it
/// splits, and three worker processes train it with identical weights.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct UnevenBatchCLITests {
    @Test func threeWorkersTrainABatchOf50() throws {
        let dir = try scratchDirectory("uneven")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let text = smallClusterYAML(workers: 3, steps: 25, dir: dir).replacingOccurrences(
            of: "batch_size: 48", with: "batch_size: 50")
        #expect(text.contains("batch_size: 50"))
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let check = try cohort(["validate", config], timeout: 20)
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("global batch 50 (16–17 per replica)"), "\(check.stdout)")
        let r = try cohort(["launch", config, "--json", "--ephemeral-ports"], timeout: 45)
        #expect(r.status == 0, "\(r.stderr)")
        let done = try #require(lastJSONObject(r.stdout), "no JSON: \(r.stdout) \(r.stderr)")
        #expect(done["workers"] as? Int == 3)
        #expect(done["steps"] as? Int == 25)
        let sums = try #require(done["weight_checksums"] as? [String])
        #expect(sums.count == 3 && Set(sums).count == 1, "weights differ: \(sums)")
    }
}
