import CohortTestSupport
import Foundation
import Testing

/// `scripts/chaos.py` end to end on a tiny synthetic job: 3 local workers under `elastic:`, one SIGKILLed and one
/// SIGSTOPped at random steps, each restarted by `launch` and healed from the live replicas. The figures come from
/// the metrics file's `membership` and `recovery` records; the test checks them against what each event must show.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ChaosScriptTests {
    @Test(.enabled(if: ProcessRunner.which("python3") != nil, "scripts/chaos.py needs python3"))
    func twoKillsAreDetectedRecoveredAndHealed() throws {
        let binary = try requireCohortBinary()
        let python = try #require(ProcessRunner.which("python3"))
        let dir = try scratchDirectory("chaos")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = packageRoot().appendingPathComponent("scripts/chaos.py").path
        let deadline = 2.0
        let result = try ProcessRunner.run(
            python,
            [
                script, "--tiny", "--kills", "2", "--signals", "SIGKILL,SIGSTOP", "--workers", "3", "--steps", "80000",
                "--heartbeat", "0.2", "--deadline", "\(deadline)", "--backoff", "0.2", "--seed", "3", "--out", dir.path,
                "--binary", binary.path,
            ], timeout: 200)
        let text = result.stdout + result.stderr
        #expect(result.status == 0 && !result.timedOut, "\(text)")
        let lines = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let events = lines.filter { $0["signal"] != nil }
        try #require(events.count == 2, "\(text)")
        for e in events {
            let detection = e["detection_s"] as? Double ?? -1
            // SIGKILL: the launcher sees the exit at once; SIGSTOP: the heartbeats stop, dropped at the deadline.
            let bound = e["signal"] as? String == "SIGKILL" ? 2.0 : deadline + 1.5
            #expect(detection >= 0 && detection <= bound, "\(e)")
            if e["signal"] as? String == "SIGSTOP" { #expect(detection >= deadline * 0.9, "\(e)") }
            #expect((e["recovery_s"] as? Double).map { $0 >= 0 && $0 < 30 } == true, "\(e)")
            #expect([0, 1].contains(e["steps_redone"] as? Int ?? -1), "\(e)")
            #expect(e["completed_steps_lost"] as? Int == 0, "\(e)")
            // The restarted worker joined (3→2→3) and got the full state from a live replica.
            #expect(e["workers"] as? String == "3→2→3", "\(e)")
            #expect((e["heal_bytes"] as? Int ?? 0) > 0, "\(e)")
            #expect(e["heal_s"] as? Double != nil, "\(e)")
            // A join lets the members finish their step: at most a member that had begun the next one (its
            // neighbour already left) abandons that; every survivor timed its gap.
            #expect([0, 1].contains(e["heal_steps_redone"] as? Int ?? -1), "\(e)")
            #expect((e["heal_gap_s"] as? Double).map { $0 > 0 && $0 < 30 } == true, "\(e)")
            // The copy is timed on every rank; its rate is one receiver's bytes over the slowest rank's time.
            let copy = e["heal_copy_s"] as? Double ?? -1
            #expect(copy > 0 && copy < 30, "\(e)")
            let rate = e["heal_copy_gbytes_per_s"] as? Double ?? -1
            let bytes = Double(e["heal_bytes"] as? Int ?? 0) / 2  // 3 replicas: two receivers
            #expect(abs(rate - bytes / copy / 1e9) <= 1e-6 * max(rate, 1e-9), "\(e)")
        }
        let summary = try #require(lines.first { $0["summary"] as? Bool == true }, "\(text)")
        #expect(summary["weights_identical"] as? Bool == true, "\(summary)")
        #expect(summary["final_workers"] as? Int == 3, "\(summary)")
        #expect(summary["steps"] as? Int == 80000, "\(summary)")
        #expect(summary["checkpoint_read"] as? Bool == false, "\(summary)")
        #expect(result.stdout.contains("| p99 |"), "\(text)")
    }

    /// Runs `scripts/chaos.py --tiny` with `arguments` in a scratch directory named `name`: its exit, its output
    /// and the JSON lines it printed (events and the summary).
    static func chaos(_ name: String, _ arguments: [String]) throws -> (ok: Bool, text: String, lines: [[String: Any]]) {
        let binary = try requireCohortBinary()
        let python = try #require(ProcessRunner.which("python3"))
        let dir = try scratchDirectory(name)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = packageRoot().appendingPathComponent("scripts/chaos.py").path
        let result = try ProcessRunner.run(
            python, [script, "--tiny"] + arguments + ["--out", dir.path, "--binary", binary.path], timeout: 200)
        let lines = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        return (result.status == 0 && !result.timedOut, result.stdout + result.stderr, lines)
    }

    /// A 2 × 2 grid (`--pipeline-stages 2`): each event drops the victim's whole replica and `launch` restarts it
    /// (the dead stage and the dismissed one), which rejoins as a replica; nothing completed is lost.
    @Test(.enabled(if: ProcessRunner.which("python3") != nil, "scripts/chaos.py needs python3"))
    func aGridLosesAndRegainsWholeReplicas() throws {
        let (ok, text, lines) = try Self.chaos(
            "chaos-grid",
            [
                "--kills", "2", "--signals", "SIGKILL,SIGSTOP", "--workers", "4", "--pipeline-stages", "2", "--steps",
                "60000", "--heartbeat", "0.2", "--deadline", "2", "--backoff", "0.2", "--seed", "3",
            ])
        #expect(ok, "\(text)")
        let events = lines.filter { $0["signal"] != nil }
        try #require(events.count == 2, "\(text)")
        for e in events {
            #expect(e["workers"] as? String == "4→2→4", "\(e)")
            #expect((e["reason"] as? String)?.hasSuffix("its replica's other stages left") == true, "\(e)")
            #expect([0, 1].contains(e["steps_redone"] as? Int ?? -1), "\(e)")
            #expect(e["completed_steps_lost"] as? Int == 0, "\(e)")
            #expect((e["heal_bytes"] as? Int ?? 0) > 0, "the rejoining replica's stages got their state: \(e)")
        }
        let summary = try #require(lines.first { $0["summary"] as? Bool == true }, "\(text)")
        #expect(summary["weights_identical"] as? Bool == true, "\(summary)")
        #expect(summary["final_workers"] as? Int == 4, "\(summary)")
        #expect(summary["steps"] as? Int == 60000, "\(summary)")
        #expect(summary["checkpoint_read"] as? Bool == false, "\(summary)")
    }

    /// `elastic.deterministic`: after a SIGKILL and a SIGSTOP, each restarted and healed, the final weights equal
    /// a failure-free run's with the same seed bit for bit (the script compares the done lines' checksums).
    @Test(.enabled(if: ProcessRunner.which("python3") != nil, "scripts/chaos.py needs python3"))
    func deterministicRunEndsOnTheFailureFreeWeights() throws {
        let (ok, text, lines) = try Self.chaos(
            "chaos-det",
            [
                "--kills", "2", "--signals", "SIGKILL,SIGSTOP", "--workers", "3", "--steps", "80000", "--heartbeat", "0.2",
                "--deadline", "2", "--backoff", "0.2", "--seed", "5", "--baseline", "--deterministic",
            ])
        #expect(ok, "\(text)")
        #expect(lines.filter { $0["signal"] != nil }.map { $0["workers"] as? String } == ["3→2→3", "3→2→3"], "\(text)")
        let summary = try #require(lines.first { $0["summary"] as? Bool == true }, "\(text)")
        #expect(summary["bitwise_equal_to_baseline"] as? Bool == true, "\(summary)")
        #expect(summary["weights_identical"] as? Bool == true, "\(summary)")
    }
}
