import CohortTestSupport
import Foundation
import Testing

/// `cohort bench allreduce --op broadcast | heal --json`: one line per size (per workload), with the copy's time,
/// its rate (one receiver's bytes over it) and the receivers' check; heal copies exactly W1's weights and momentum.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BenchBroadcastCLITests {
    static func lines(_ arguments: [String]) throws -> [[String: Any]] {
        let r = try cohort(["bench", "allreduce", "--ranks", "2", "--reps", "2", "--json"] + arguments, timeout: 150)
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func expectCopyFields(_ o: [String: Any], bench: String, bytes: Int) {
        #expect(o["bench"] as? String == bench, "\(o)")
        #expect(o["bytes"] as? Int == bytes, "\(o)")
        #expect(o["check"] as? String == "ok", "\(o)")
        #expect(o["ranks"] as? Int == 2 && o["reps"] as? Int == 2, "\(o)")
        let seconds = (o["copy_s"] as? NSNumber)?.doubleValue ?? -1
        let rate = (o["copy_gbytes_per_s"] as? NSNumber)?.doubleValue ?? -1
        #expect(seconds > 0, "\(o)")
        // Both are printed rounded (to the nanosecond and to 4 decimals): the rate is the bytes over the seconds
        // within that.
        let expected = Double(bytes) / seconds / 1e9
        #expect(abs(rate - expected) <= 0.0001 + expected * 1e-9 / seconds, "\(o)")
        #expect(((o["copy_gbytes_per_s_max"] as? NSNumber)?.doubleValue ?? -1) >= rate, "\(o)")
    }

    @Test(arguments: ["tcp", "shm"])
    func broadcastLinesHaveTheCopyFields(transport: String) async throws {
        let sizes = [65536, 1_048_576]
        let lines = try await onOwnThread {
            try Self.lines(["--op", "broadcast", "--transport", transport, "--sizes", "65536,1048576"])
        }
        #expect(lines.count == sizes.count, "\(lines)")
        for (o, bytes) in zip(lines, sizes) {
            Self.expectCopyFields(o, bench: "broadcast", bytes: bytes)
            #expect(o["transport"] as? String == transport)
        }
    }

    @Test func healCopiesW1sWeightsAndMomentum() throws {
        let lines = try Self.lines(["--op", "heal", "--transport", "shm", "--workloads", "W1"])
        let o = try #require(lines.first, "no line")
        #expect(lines.count == 1)
        Self.expectCopyFields(o, bench: "heal", bytes: 2 * 235_146 * 4)
        #expect(o["workload"] as? String == "W1" && o["params"] as? Int == 235_146, "\(o)")
        #expect(((o["agree_s"] as? NSNumber)?.doubleValue ?? 0) >= (o["copy_s"] as? NSNumber)?.doubleValue ?? 1, "\(o)")
    }
}
