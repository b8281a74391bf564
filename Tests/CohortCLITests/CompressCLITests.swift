import Foundation
import Testing

/// `cohort compress quantize` and `cohort eval` end to end on a small synthetic model: the int8 file is smaller,
/// `eval --json` reads each file's format, and bad input is one line with a non-zero exit.
@Suite(.timeLimit(.minutes(4)))
struct CompressCLITests {
    @Test func quantizeThenEvalBothFormats() throws {
        let dir = try scratchDirectory("compress")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fp32 = dir.appendingPathComponent("m.safetensors").path
        let int8 = dir.appendingPathComponent("q.safetensors").path
        let train = try cohort(
            ["train", "--dataset", "synthetic", "--layers", "32,64,10", "--steps", "60", "--quiet", "--output", fp32],
            timeout: 60)
        #expect(train.status == 0, "\(train.stderr)")

        let zero = try cohort(["compress", "quantize", fp32, "--output", int8, "--calibration-batches", "0"])
        #expect(zero.status != 0 && zero.status < 128 && zero.stderrLines.count == 1, "\(zero.stderr)")
        #expect(zero.stderr.contains("--calibration-batches"), "\(zero.stderr)")

        let q = try cohort(["compress", "quantize", fp32, "--output", int8, "--calibration-batches", "4", "--json"], timeout: 60)
        #expect(q.status == 0, "\(q.stderr)")
        var accuracy: [String: Double] = [:]
        for (path, format) in [(fp32, "fp32"), (int8, "int8")] {
            let e = try cohort(["eval", path, "--json", "--seconds", "0.05", "--batch", "1,32"], timeout: 60)
            #expect(e.status == 0, "\(e.stderr)")
            let line = lastJSONObject(e.stdout)
            #expect(line?["bench"] as? String == "eval" && line?["format"] as? String == format, "\(e.stdout)")
            for key in ["test_accuracy", "bytes", "latency_ms_batch1", "p99_ms_batch1", "samples_per_s_batch32"] {
                #expect(line?[key] != nil, "\(key) missing: \(e.stdout)")
            }
            accuracy[format] = line?["test_accuracy"] as? Double
        }
        if let a = accuracy["fp32"], let b = accuracy["int8"] { #expect(abs(a - b) < 0.05, "fp32 \(a) int8 \(b)") }
    }

    @Test func evalOfAFileThatIsNoModelIsOneLine() throws {
        let dir = try scratchDirectory("compress-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("junk.safetensors").path
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: path))
        let r = try cohort(["eval", path])
        #expect(r.status != 0 && r.status < 128 && r.stderrLines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains(path), "\(r.stderr)")
    }

    /// `compress prune`: structured halves the hidden layer (eval reads it as pruned with the new width),
    /// unstructured keeps shapes with 80% zeros, and a sparsity of 1 is one line.
    @Test func pruneStructuredAndUnstructured() throws {
        let dir = try scratchDirectory("prune")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fp32 = dir.appendingPathComponent("m.safetensors").path
        let train = try cohort(
            ["train", "--dataset", "synthetic", "--layers", "32,64,10", "--steps", "30", "--quiet", "--output", fp32],
            timeout: 60)
        #expect(train.status == 0, "\(train.stderr)")
        let half = dir.appendingPathComponent("half.safetensors").path
        let s = try cohort(["compress", "prune", fp32, "--sparsity", "0.5", "--structured", "--output", half, "--json"])
        #expect(s.status == 0 && lastJSONObject(s.stdout)?["layers"] as? String == "32,32,10", "\(s.stdout) \(s.stderr)")
        let sparse = dir.appendingPathComponent("sparse.safetensors").path
        let u = try cohort(["compress", "prune", fp32, "--sparsity", "0.8", "--output", sparse, "--json"])
        let zeros = lastJSONObject(u.stdout)?["zero_fraction"] as? Double ?? 0
        #expect(u.status == 0 && abs(zeros - 0.8) < 0.01, "\(u.stdout) \(u.stderr)")
        let tuned = dir.appendingPathComponent("tuned.safetensors").path
        let g = try cohort(
            [
                "compress", "prune", fp32, "--sparsity", "0.8", "--gradual", "--fine-tune-steps", "30", "--output", tuned,
                "--json",
            ],
            timeout: 60)
        let tunedZeros = lastJSONObject(g.stdout)?["zero_fraction"] as? Double ?? 0
        #expect(g.status == 0 && abs(tunedZeros - 0.8) < 0.01, "\(g.stdout) \(g.stderr)")
        let e = try cohort(["eval", half, "--json", "--seconds", "0.05"], timeout: 60)
        #expect(lastJSONObject(e.stdout)?["format"] as? String == "pruned", "\(e.stdout) \(e.stderr)")
        let bad = try cohort(["compress", "prune", fp32, "--sparsity", "1", "--output", sparse])
        #expect(bad.status != 0 && bad.status < 128 && bad.stderrLines.count == 1 && bad.stderr.contains("--sparsity"))
    }
}
