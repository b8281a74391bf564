import CohortTestSupport
import Foundation
import Testing

/// `cohort bench gemm` end to end, and its pairing with OpenBLAS.
@Suite struct BenchGemmCLITests {
    /// One shape's JSON line: a checked result's rate, the measured peak, and the fraction between them.
    @Test func oneShapeGivesItsRateAgainstThePeak() throws {
        let r = try cohort(["bench", "gemm", "--shape", "square128", "--reps", "5", "--json"], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(lastJSONObject(r.stdout), "\(r.stdout)")
        let (gflops, peak) = (line["gflops"] as? Double ?? 0, line["peak_gflops"] as? Double ?? 0)
        #expect(line["label"] as? String == "square128" && gflops > 0 && peak > 0)
        #expect(abs((line["fraction_of_peak"] as? Double ?? -1) - gflops / peak) < 1e-3)
        #expect(line["openblas_gflops"] == nil && line["ratio"] == nil)
    }

    /// `--beside-openblas numpy`: OpenBLAS's result is checked against the reference like Cohort's, and each line
    /// gives both rates and the median of the pairs' ratios (skipped where python3 has no numpy).
    @Test func besideOpenBLASGivesBothRatesAndTheirRatio() throws {
        let probe = try ProcessRunner.run("/usr/bin/env", ["python3", "-c", "import numpy"], timeout: 60)
        guard probe.status == 0 else {
            print("skipped: python3 has no numpy (its bundled OpenBLAS is the reference)")
            return
        }
        let r = try cohort(
            [
                "bench", "gemm", "--shape", "square128", "--shape", "fwd_128x784.784x256", "--reps", "5", "--json",
                "--beside-openblas", "numpy",
            ], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(lines.count == 2)
        for line in lines {
            let (ours, theirs) = (line["gflops"] as? Double ?? 0, line["openblas_gflops"] as? Double ?? 0)
            let ratio = line["ratio"] as? Double ?? 0
            #expect(ours > 0 && theirs > 0 && ratio > 0, "\(line)")
            // The median of per-pair ratios lies near the ratio of the medians (a factor 2 either way is no pairing).
            #expect(ratio > 0.5 * ours / theirs && ratio < 2 * ours / theirs, "\(line)")
        }
    }

    @Test func aLibraryThatDoesNotLoadIsOneLineNamingTheOption() throws {
        let r = try cohort(["bench", "gemm", "--shape", "square128", "--beside-openblas", "/nonexistent/libopenblas.so"])
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("--beside-openblas /nonexistent/libopenblas.so"), "\(r.stderr)")
    }
}
