import Foundation
import Runtime
import Testing
import Training

/// The straggler report: per-rank medians of the progress windows, and the rank the others waited on.
@Suite struct StragglerReportTests {
    /// A progress window of `steps` steps, each `compute` s of compute and `wait` s of waiting.
    func window(rank: Int, steps: Int = 10, compute: Double, wait: Double) -> ProgressReport {
        ProgressReport(
            rank: rank, epoch: 0, step: steps, stepsPerEpoch: 100, totalSteps: 100, steps: steps, samples: steps * 16,
            loss: 1, accuracy: 0.5, seconds: Double(steps) * (compute + wait), computeSeconds: Double(steps) * compute,
            allReduceSeconds: 0, waitSeconds: Double(steps) * wait)
    }

    @Test func slowRankIsFlaggedAndWaitedOn() throws {
        var stats = StepStatistics()
        for i in 0..<20 {
            // Rank 1 computes twice as long; rank 0 waits for it. One outlier window each must not move the median.
            let burst = i == 7 ? 10.0 : 1.0
            stats.add(window(rank: 0, compute: 0.010 * burst, wait: 0.010))
            stats.add(window(rank: 1, compute: 0.020, wait: 0.0005))
            stats.add(window(rank: 2, compute: 0.0105, wait: 0.009))
        }
        let report = try #require(stats.report())
        #expect(report.waitedOn == 1)
        let r1 = try #require(report.ranks.first { $0.rank == 1 })
        #expect(abs(r1.medianComputeSeconds - 0.020) < 1e-12)
        #expect(abs(r1.computeRatio - 0.020 / 0.0105) < 1e-9, "lower median of 0.010, 0.0105, 0.020 is 0.0105")
        #expect(r1.straggler)
        let r0 = try #require(report.ranks.first { $0.rank == 0 })
        #expect(abs(r0.medianComputeSeconds - 0.010) < 1e-12, "the burst window is not the median")
        #expect(abs(r0.medianStepSeconds - 0.020) < 1e-12)
        #expect(!r0.straggler && !(report.ranks.first { $0.rank == 2 }?.straggler ?? true))
        #expect(report.humanLine.hasPrefix("stragglers: rank 1 computes 1.90× the median"), "\(report.humanLine)")
    }

    @Test func evenRanksAreNoStragglers() throws {
        var stats = StepStatistics()
        for _ in 0..<10 {
            stats.add(window(rank: 0, compute: 0.010, wait: 0.001))
            stats.add(window(rank: 1, compute: 0.0115, wait: 0.0005))  // 15% slower: under the 20% threshold
        }
        let report = try #require(stats.report())
        #expect(report.waitedOn == nil)
        #expect(report.ranks.allSatisfy { !$0.straggler })
        #expect(report.humanLine.hasPrefix("stragglers: none"))
        let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        #expect(json.contains("\"waited_on\":null"), "\(json)")
    }

    @Test func pipelineStagesAreComparedWithinTheirStage() throws {
        // Stage 1 does three times stage 0's work: different stages are not stragglers of each other.
        var stats = StepStatistics { $0 % 2 }
        for _ in 0..<10 {
            for rank in 0..<4 { stats.add(window(rank: rank, compute: rank % 2 == 0 ? 0.01 : 0.03, wait: 0)) }
        }
        #expect(try #require(stats.report()).waitedOn == nil)
    }

    @Test func memoryStaysBounded() throws {
        var stats = StepStatistics(capacity: 64)
        for i in 0..<10_000 { stats.add(window(rank: 0, compute: 0.001 * Double(i % 7 + 1), wait: 0)) }
        let report = try #require(stats.report())
        #expect(report.ranks[0].medianComputeSeconds > 0.001 && report.ranks[0].medianComputeSeconds < 0.007)
    }
}
