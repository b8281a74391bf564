import CohortTestSupport
import Foundation
import Testing

/// `cohort bench roofline --json`: one line per op with the issue's keys in order, then the summary line; numbers
/// consistent with each other (attained = flops / seconds, intensity = flops / bytes, roof ≤ peak); the output
/// layer's GEMMs, when below 80% of the roof, name the shape that keeps them there.
@Suite struct BenchRooflineCLITests {
    @Test func jsonLinesHaveTheIssuesShape() throws {
        let r = try cohort(["bench", "roofline", "--workload", "W1", "--reps", "5", "--json"], timeout: 120)
        // A loaded machine may fail the 5% self-check: then the exit says so, and the lines are still checked.
        #expect(r.status == 0 || r.stderr.contains("self-check"), "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let ops = lines.filter { $0.hasPrefix("{\"bench\":\"roofline\",\"op\":") }
        #expect(ops.count == 20)
        let keys = ["bench", "op", "seconds", "flops", "bytes", "intensity", "attained_gflops", "roof_gflops", "bound"]
        var peak = 0.0
        let summary = try #require(lines.last)
        #expect(summary.hasPrefix("{\"bench\":\"roofline\",\"summary\":true,\"step_s\":"))
        let s = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
        peak = try #require(s["peak_gflops"] as? Double)
        #expect(summary.contains(",\"ops_sum_s\":") && summary.contains(",\"dram_gbps\":"))
        for line in ops {
            var position = line.startIndex
            for key in keys {
                let range = try #require(line.range(of: "\"\(key)\":", range: position..<line.endIndex), "\(key) in \(line)")
                position = range.upperBound
            }
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let (flops, bytes, seconds) = (o["flops"] as? Double ?? 0, o["bytes"] as? Double ?? 0, o["seconds"] as? Double ?? 0)
            #expect(bytes > 0 && seconds > 0)
            #expect(abs((o["intensity"] as? Double ?? -1) - flops / bytes) < 1e-3)
            #expect(abs((o["attained_gflops"] as? Double ?? -1) - flops / seconds / 1e9) < 0.01 * max(1, flops / seconds / 1e9))
            #expect((o["roof_gflops"] as? Double ?? .infinity) <= peak + 0.01)
            #expect(["compute", "memory"].contains(o["bound"] as? String ?? ""))
            // A GEMM below 80% of its roof says why: W1's output layer is 10 wide (its forward and ∂W) and its ∂x has
            // k = 10.
            let (name, ofRoof, note) = (o["op"] as? String ?? "", o["of_roof"] as? Double ?? 0, o["note"] as? String)
            if name.contains("gemm") && ofRoof < 0.8 && name.hasPrefix("dense2") {
                #expect(note != nil, "\(line)")
                #expect(
                    (note ?? "").contains(name.hasSuffix("gemm_dX") ? "k = 10" : "C is 10 columns wide"), "\(line)")
            }
        }
    }
}
