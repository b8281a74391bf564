import Foundation
import Testing

/// `cohort train --checkpoint-dir DIR --resume`: a run stopped at step 50 (inside an epoch) and continued to step
/// 100 ends with the same bytes as one run of 100 steps: weights, optimizer moments and the data cursor all
/// carried. This is what lets `cohort tune` promote an ASHA trial without retraining it.
@Suite(.timeLimit(.minutes(4)))
struct TrainResumeCLITests {
    static func arguments(steps: Int, optimizer: String) -> [String] {
        [
            "train", "--dataset", "synthetic", "--layers", "32,24,10", "--optimizer", optimizer, "--lr", "0.01",
            "--schedule", "constant", "--batch-size", "64", "--max-train-examples", "2000", "--max-test-examples",
            "300", "--seed", "3", "--steps", "\(steps)", "--json", "--quiet",
        ]
    }

    @Test(arguments: ["momentum", "adam"])
    func continuedRunEqualsOneRun(optimizer: String) throws {
        let dir = try scratchDirectory("resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state").path
        let whole = dir.appendingPathComponent("whole.safetensors").path
        let continued = dir.appendingPathComponent("continued.safetensors").path
        let one = try cohort(Self.arguments(steps: 100, optimizer: optimizer) + ["--output", whole], timeout: 60)
        #expect(one.status == 0, "\(one.stderr)")
        let first = try cohort(Self.arguments(steps: 50, optimizer: optimizer) + ["--checkpoint-dir", state], timeout: 60)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try cohort(
            Self.arguments(steps: 100, optimizer: optimizer) + ["--checkpoint-dir", state, "--resume", "--output", continued],
            timeout: 60)
        #expect(second.status == 0, "\(second.stderr)")
        let done = try #require(lastJSONObject(second.stdout))
        #expect(done["resumed_from_step"] as? Int == 50 && done["steps"] as? Int == 100, "\(second.stdout)")
        #expect(lastJSONObject(one.stdout)?["resumed_from_step"] == nil)
        let a = try Data(contentsOf: URL(fileURLWithPath: whole))
        let b = try Data(contentsOf: URL(fileURLWithPath: continued))
        #expect(a == b, "the continued run's weights differ from the uninterrupted run's")
    }

    /// QAT from step 30: the run cut at step 50 has fake quantization on and its activation observers' moving
    /// averages in the checkpoint; the continued run goes on quantized from its first step and ends with the same
    /// weights and the same input scales in the model file's metadata as the straight run.
    @Test func continuedQATRunEqualsOneRun() throws {
        let dir = try scratchDirectory("resume-qat")
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state").path
        let qat = ["--qat-start-step", "30"]
        let whole = dir.appendingPathComponent("whole.safetensors").path
        let continued = dir.appendingPathComponent("continued.safetensors").path
        let one = try cohort(Self.arguments(steps: 100, optimizer: "momentum") + qat + ["--output", whole], timeout: 60)
        #expect(one.status == 0, "\(one.stderr)")
        let first = try cohort(
            Self.arguments(steps: 50, optimizer: "momentum") + qat + ["--checkpoint-dir", state], timeout: 60)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try cohort(
            Self.arguments(steps: 100, optimizer: "momentum") + qat + [
                "--checkpoint-dir", state, "--resume", "--output", continued,
            ],
            timeout: 60)
        #expect(second.status == 0, "\(second.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: whole))
        let b = try Data(contentsOf: URL(fileURLWithPath: continued))
        #expect(String(decoding: a, as: UTF8.self).contains("qat_input_scales"))
        #expect(a == b, "the continued QAT run's weights or input scales differ from the uninterrupted run's")
    }

    /// A decaying schedule laid over the whole run (`--schedule-steps`, as `cohort tune` does for ASHA): the first
    /// part ends mid-schedule, and the continued run equals the straight one.
    @Test func continuedCosineRunEqualsOneRunWithTheWholeHorizon() throws {
        let dir = try scratchDirectory("resume-cosine")
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state").path
        let cosine = ["--schedule", "cosine"]
        let whole = dir.appendingPathComponent("whole.safetensors").path
        let continued = dir.appendingPathComponent("continued.safetensors").path
        let one = try cohort(Self.arguments(steps: 100, optimizer: "momentum") + cosine + ["--output", whole], timeout: 60)
        #expect(one.status == 0, "\(one.stderr)")
        let horizon = cosine + ["--schedule-steps", "100", "--checkpoint-dir", state]
        let first = try cohort(Self.arguments(steps: 50, optimizer: "momentum") + horizon, timeout: 60)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try cohort(
            Self.arguments(steps: 100, optimizer: "momentum") + horizon + ["--resume", "--output", continued], timeout: 60)
        #expect(second.status == 0, "\(second.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: whole))
        let b = try Data(contentsOf: URL(fileURLWithPath: continued))
        #expect(a == b, "the continued cosine run's weights differ from the uninterrupted run's")
    }

    @Test func resumeWithoutADirectoryIsOneLine() throws {
        let r = try cohort(Self.arguments(steps: 10, optimizer: "sgd") + ["--resume"])
        #expect(r.status != 0 && r.status < 128, "exit \(r.status)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains("--checkpoint-dir"), "\(r.stderr)")
    }

    /// An empty or missing state folder is a fresh start, as a first ASHA rung is.
    @Test func resumeFromAnEmptyFolderStartsAfresh() throws {
        let dir = try scratchDirectory("resume-empty")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try cohort(
            Self.arguments(steps: 20, optimizer: "sgd") + ["--checkpoint-dir", dir.path + "/none", "--resume"], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(lastJSONObject(r.stdout)?["resumed_from_step"] == nil && lastJSONObject(r.stdout)?["steps"] as? Int == 20)
    }
}
