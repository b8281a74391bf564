import CohortTestSupport
import Foundation
import Testing

/// scripts/bench-allreduce-hosts.sh for real: two ranks on two network-namespace hosts (their own /dev/shm), the
/// ring over the bridge, with the result checked by the ranks and the link fraction added.
@Suite(.timeLimit(.minutes(4)))
struct BenchAllreduceHostsTests {
    @Test(.enabled(if: networkNamespacesPermitted(), "needs root and permission for `ip netns add`"))
    func ringAcrossTwoNamespaceHostsChecksItsResult() throws {
        let binary = try requireCohortBinary()
        let script = packageRoot().appendingPathComponent("scripts/bench-allreduce-hosts.sh").path
        let r = try ProcessRunner.run(
            "/bin/bash", [script, "--rates", "100mbit", "--sizes", "65536,4194304", "--reps", "1", "--binary", binary.path],
            timeout: 90)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(lines.count == 2, "\(r.stdout)")
        for o in lines {
            #expect(o["check"] as? String == "ok")
            #expect(o["hosts"] as? Int == 2)
            #expect(o["transport"] as? String == "tcp")
            // The shaped link is the limit: past tbf's 256 KB burst the ring cannot beat 100 Mbit/s (12.5 MB/s).
            let fraction = (o["of_link"] as? NSNumber)?.doubleValue ?? .nan
            #expect(fraction > 0.05, "busbw / link = \(fraction)")
            if o["bytes"] as? Int == 4_194_304 { #expect(fraction <= 1.1, "busbw / link = \(fraction) at 4 MiB") }
        }
    }

    /// `--op broadcast` passes through: the heal's copy across the shaped link, its fraction of the link added.
    @Test(.enabled(if: networkNamespacesPermitted(), "needs root and permission for `ip netns add`"))
    func broadcastAcrossTwoNamespaceHostsReportsItsFractionOfTheLink() throws {
        let binary = try requireCohortBinary()
        let script = packageRoot().appendingPathComponent("scripts/bench-allreduce-hosts.sh").path
        let r = try ProcessRunner.run(
            "/bin/bash",
            [
                script, "--op", "broadcast", "--rates", "100mbit", "--sizes", "1048576", "--reps", "1", "--binary",
                binary.path,
            ], timeout: 90)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let o = try #require(lines.first, "\(r.stdout)")
        #expect(lines.count == 1 && o["bench"] as? String == "broadcast" && o["check"] as? String == "ok", "\(o)")
        let rate = (o["copy_gbytes_per_s"] as? NSNumber)?.doubleValue ?? .nan
        let fraction = (o["of_link"] as? NSNumber)?.doubleValue ?? .nan
        #expect(abs(fraction - rate / 0.0125) <= 0.01, "of_link \(fraction) for \(rate) GB/s over 100 Mbit/s")
        #expect(fraction > 0.05, "\(o)")
    }
}
