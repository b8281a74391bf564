import Foundation
import Testing

/// `cohort compress report` end to end on tiny synthetic data (W1's shape, 40 steps), and QAT from the command
/// line through `compress quantize` to `eval`.
@Suite(.timeLimit(.minutes(3)))
struct CompressReportCLITests {
    /// Every method has a row in the CSV and the markdown; the rows agree with the files (int8 under a third of
    /// fp32's bytes, structured smaller than fp32, unstructured 90% with ~10% of the weights nonzero); the PNG is a
    /// PNG when python3 with matplotlib is here.
    @Test func reportWritesConsistentTableAndPlot() throws {
        let dir = try scratchDirectory("compress-report")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try cohort(
            [
                "compress", "report", "--workloads", "W1", "--dataset", "synthetic", "--steps", "40", "--fine-tune-steps", "12",
                "--max-train-examples", "2000", "--max-test-examples", "300", "--seconds", "0.02", "--out", dir.path,
            ], timeout: 150)
        #expect(r.status == 0, "\(r.stderr)")
        let csv = try String(contentsOf: dir.appendingPathComponent("compression-report.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n").map(String.init)
        let header = lines[0].split(separator: ",").map(String.init)
        var rows: [String: [String: String]] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", maxSplits: header.count - 1, omittingEmptySubsequences: false).map(
                String.init)
            rows[fields[1]] = Dictionary(uniqueKeysWithValues: zip(header, fields))
        }
        let methods = [
            "fp32", "int8 PTQ", "int8 QAT", "pruned 90% (unstructured)", "structured 50%", "student 784-64-10 alone",
            "student 784-64-10 distilled",
        ]
        #expect(Set(rows.keys) == Set(methods), "\(rows.keys)")
        func number(_ method: String, _ key: String) -> Double { Double(rows[method]?[key] ?? "") ?? -1 }
        let fp32Bytes = number("fp32", "bytes")
        let w1Weights: Double = 784 * 256 + 256 * 128 + 128 * 10
        #expect(fp32Bytes > 4 * w1Weights)
        for m in ["int8 PTQ", "int8 QAT"] {
            #expect(number(m, "bytes") > 0 && number(m, "bytes") < fp32Bytes / 3, "\(m): \(rows[m] ?? [:])")
            #expect(rows[m]?["format"] == "int8")
        }
        #expect(number("structured 50%", "bytes") < fp32Bytes * 0.6 && rows["structured 50%"]?["layers"] == "784-128-64-10")
        let dense = number("fp32", "nonzero_weights")
        #expect(abs(number("pruned 90% (unstructured)", "nonzero_weights") / dense - 0.1) < 0.01)
        for m in methods {
            #expect(number(m, "test_accuracy") > 0.3 && number(m, "test_accuracy") <= 1, "\(m) did not learn")
            #expect(number(m, "latency_ms_batch1") > 0 && number(m, "p99_ms_batch1") >= number(m, "latency_ms_batch1"))
            #expect(number(m, "samples_per_s_batch128") > 0)
        }
        let md = try String(contentsOf: dir.appendingPathComponent("compression-report.md"), encoding: .utf8)
        #expect(md.split(separator: "\n").filter { $0.hasPrefix("| W1 |") }.count == methods.count, "\(md)")
        let png = dir.appendingPathComponent("compression-accuracy-size.png")
        if FileManager.default.fileExists(atPath: png.path) {
            let magic = try Data(contentsOf: png).prefix(4)
            #expect(magic == Data([0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        } else {
            #expect(r.stderr.contains("no plot"), "no PNG and no notice why: \(r.stderr)")
        }
    }

    /// `train --qat-start-step` stores QAT's activation scales; `compress quantize` uses them (calibration "qat")
    /// and the int8 file's accuracy matches what training reported for the fake-quantized model.
    @Test func qatFromTheCommandLineToEval() throws {
        let dir = try scratchDirectory("qat-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fp32 = dir.appendingPathComponent("m.safetensors").path
        let int8 = dir.appendingPathComponent("q.safetensors").path
        let train = try cohort(
            [
                "train", "--dataset", "synthetic", "--layers", "32,64,10", "--steps", "80", "--qat-start-step", "40", "--json",
                "--quiet", "--output", fp32,
            ], timeout: 60)
        #expect(train.status == 0, "\(train.stderr)")
        let trained = lastJSONObject(train.stdout)?["test_accuracy"] as? Double ?? -1
        let q = try cohort(["compress", "quantize", fp32, "--output", int8, "--json"], timeout: 60)
        #expect(q.status == 0 && lastJSONObject(q.stdout)?["calibration"] as? String == "qat", "\(q.stdout)\(q.stderr)")
        let e = try cohort(["eval", int8, "--json", "--seconds", "0.02", "--batch", "1"], timeout: 60)
        let accuracy = lastJSONObject(e.stdout)?["test_accuracy"] as? Double ?? -2
        #expect(abs(accuracy - trained) <= 0.01, "int8 \(accuracy), fake-quantized training \(trained)")
        let bad = try cohort(["train", "--dataset", "synthetic", "--layers", "32,64,10", "--steps", "5", "--qat-start-step=-3"])
        #expect(bad.status != 0 && bad.status < 128 && bad.stderrLines.count == 1, "\(bad.stderr)")
        #expect(bad.stderr.contains("compression.qat.start_step"), "\(bad.stderr)")
    }
}

/// QAT under `cohort launch`: two worker processes over tcp, whose final checksums cover the weights and the
/// observers' moving averages, must agree.
@Suite(.timeLimit(.minutes(3)))
struct QATLaunchCLITests {
    @Test func twoWorkersWithQATEndIdentical() throws {
        let dir = try scratchDirectory("qat-launch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let yaml = smallClusterYAML(workers: 2, steps: 30, dir: dir).replacingOccurrences(
            of: "  seed: 7\n", with: "  seed: 7\n  compression: {qat: {start_step: 10, observer_momentum: 0.1}}\n")
        #expect(yaml.contains("qat"))
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cohort(["launch", config, "--json", "--ephemeral-ports"], timeout: 45)
        #expect(r.status == 0, "\(r.stderr)")
        let done = try #require(lastJSONObject(r.stdout), "no JSON: \(r.stdout) \(r.stderr)")
        let sums = try #require(done["weight_checksums"] as? [String])
        #expect(sums.count == 2 && Set(sums).count == 1, "replicas differ: \(sums)")
    }
}
