import CohortTestSupport
import Collectives
import Foundation
import Testing

/// Ranks as real processes of the built `cohort` binary talking over tcp://127.0.0.1.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ProcessCollectivesTests {
    /// Shared memory between ring neighbours (the default for ranks on one host) for 1…8 ranks; the sockets
    /// alone for a few group sizes.
    @Test(arguments: Array((1...8).map { ($0, true) }) + [(2, false), (3, false), (5, false)])
    func everyCollectiveMatchesDirectResults(ranks: Int, sharedMemory: Bool) async throws {
        let (results, _) = try await onOwnThread {
            try runRankProcesses(
                mode: "check", ranks: ranks, extra: ["--timeout", "30", "--shared-memory", "\(sharedMemory)"], timeout: 90)
        }
        for (r, res) in results.enumerated() {
            #expect(res.status == 0, "rank \(r) of \(ranks): status \(String(describing: res.status)): \(res.output)")
        }
        #expect(results[0].output.contains("\"check\":\"ok\""))
    }

    @Test func survivorsOfAKilledPeerErrorWithinTheDeadline() throws {
        // Rank 3 exits abruptly after 3 all-reduces; ranks 0-2 are mid-collective and must fail, not hang.
        let deadline = 2.0
        let (results, seconds) = try runRankProcesses(
            mode: "die", ranks: 4, extra: ["--timeout", "\(deadline)", "--die-after", "3"], timeout: 30)
        #expect(results[3].status == 9)
        for r in 0..<3 {
            #expect(results[r].status == 3, "rank \(r): \(String(describing: results[r].status)) \(results[r].output)")
            // Over the sockets a survivor's neighbour stops answering; over shared memory it is seen to be gone.
            let out = results[r].output
            #expect(out.contains("did not answer") || out.contains("is gone"), "rank \(r): \(out)")
        }
        #expect(seconds < deadline * 3 + 5, "took \(seconds) s")
    }

    @Test func aPeerThatNeverAnswersIsNamed() throws {
        // Rank 1 registers and then stays silent; rank 0's all-reduce must name rank 1 and its endpoint.
        let (results, seconds) = try runRankProcesses(
            mode: "allreduce", ranks: 2, extra: ["--timeout", "1.5", "--sizes", "4096"], timeout: 30,
            modeOverride: [1: "silent"])
        #expect(results[0].status == 3)
        #expect(results[0].output.contains("rank 1 (tcp://127.0.0.1:"), "\(results[0].output)")
        #expect(results[0].output.contains("did not answer within"), "\(results[0].output)")
        #expect(seconds < 15)
    }
}
