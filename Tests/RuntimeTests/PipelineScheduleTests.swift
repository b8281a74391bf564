import Config
import NN
import Parallel
import Runtime
import Testing
import Training

private func ops(_ text: String) -> [PipelineOp] {
    text.split(separator: " ").map { t in
        let m = Int(t.dropFirst())!
        return t.first == "F" ? .forward(m) : .backward(m)
    }
}

private func list(_ s: PipelineSchedule, _ k: Int, _ m: Int) -> [String] {
    (0..<k).map { PipelineSchedules.ops(s, stage: $0, stages: k, microBatches: m).map(\.description).joined(separator: " ") }
}

struct PipelineScheduleTests {
    @Test func gpipeIsAllForwardsThenAllBackwards() {
        #expect(list(.gpipe, 2, 3) == ["F0 F1 F2 B0 B1 B2", "F0 F1 F2 B0 B1 B2"])
        #expect(list(.gpipe, 3, 1) == ["F0 B0", "F0 B0", "F0 B0"])
        #expect(list(.gpipe, 1, 2) == ["F0 F1 B0 B1"])
    }

    @Test func oneForwardOneBackwardOrders() {
        // K = 2, M = 3: stage 0 warms up with one forward; the last stage alternates from the start.
        #expect(list(.oneForwardOneBackward, 2, 3) == ["F0 F1 B0 F2 B1 B2", "F0 B0 F1 B1 F2 B2"])
        // K = 3, M = 4.
        #expect(
            list(.oneForwardOneBackward, 3, 4) == [
                "F0 F1 F2 B0 F3 B1 B2 B3",
                "F0 F1 B0 F2 B1 F3 B2 B3",
                "F0 B0 F1 B1 F2 B2 F3 B3",
            ])
        // M < K: the warm-up is cut at M.
        #expect(list(.oneForwardOneBackward, 4, 2) == ["F0 F1 B0 B1", "F0 F1 B0 B1", "F0 F1 B0 B1", "F0 B0 F1 B1"])
        // M = 1 and K = 1.
        #expect(list(.oneForwardOneBackward, 3, 1) == ["F0 B0", "F0 B0", "F0 B0"])
        #expect(list(.oneForwardOneBackward, 1, 3) == ["F0 B0 F1 B1 F2 B2"])
    }

    @Test func everyMicroBatchRunsForwardThenBackwardOnce() {
        for s in [PipelineSchedule.gpipe, .oneForwardOneBackward] {
            for k in 1...6 {
                for m in 1...9 {
                    for stage in 0..<k {
                        let o = PipelineSchedules.ops(s, stage: stage, stages: k, microBatches: m)
                        #expect(o.count == 2 * m)
                        for mb in 0..<m {
                            let f = o.firstIndex(of: .forward(mb))
                            let b = o.firstIndex(of: .backward(mb))
                            #expect(f != nil && b != nil && f! < b!)
                        }
                    }
                }
            }
        }
    }

    @Test func activationMemory() {
        for k in 1...8 {
            for m in 1...16 {
                let one = (0..<k).map {
                    PipelineSchedules.maxInFlight(
                        PipelineSchedules.ops(.oneForwardOneBackward, stage: $0, stages: k, microBatches: m))
                }
                let gp = (0..<k).map {
                    PipelineSchedules.maxInFlight(PipelineSchedules.ops(.gpipe, stage: $0, stages: k, microBatches: m))
                }
                #expect(one.allSatisfy { $0 <= k && $0 <= m })
                #expect(one[0] == min(k, m), "stage 0 of 1F1B holds min(K, M)")
                #expect(gp.allSatisfy { $0 == m })
                // What a grid's joiner makes ahead: enough slots for whichever stage it is given.
                #expect(PipelineSchedules.maxInFlightOfAnyStage(.gpipe, stages: k, microBatches: m) == m)
                #expect(PipelineSchedules.maxInFlightOfAnyStage(.oneForwardOneBackward, stages: k, microBatches: m) == min(k, m))
            }
        }
    }

    /// Both schedules finish for every K ≤ 8, M ≤ 16 (no deadlock by construction), and on a balanced pipeline
    /// with free transfers the simulated bubble is exactly (K − 1)/(M + K − 1).
    @Test func simulatedBubbleIsTheTextbookOne() throws {
        for s in [PipelineSchedule.gpipe, .oneForwardOneBackward] {
            for k in 1...8 {
                for m in 1...16 {
                    let costs = Array(repeating: StageCosts(forward: 1, backward: 2), count: k)
                    let r = try PipelineSimulator.simulate(s, microBatches: m, costs: costs)
                    #expect(abs(r.makespan - Double(m + k - 1) * 3) < 1e-9, "\(s) K=\(k) M=\(m): makespan \(r.makespan)")
                    #expect(abs(r.bubble - PipelineSimulator.theoreticalBubble(stages: k, microBatches: m)) < 1e-9)
                }
            }
        }
    }

    @Test func transferLatencyStretchesTheStep() throws {
        let costs = [
            StageCosts(forward: 1, backward: 1, sendActivation: 0.5), StageCosts(forward: 1, backward: 1, sendGradient: 0.5),
        ]
        let r = try PipelineSimulator.simulate(.gpipe, microBatches: 1, costs: costs)
        #expect(abs(r.makespan - 5) < 1e-9)  // F 1, send 0.5, F 1, B 1, send 0.5, B 1
    }

    @Test func aCrossedOrderIsReportedAsDeadlock() {
        let bad = [ops("F0 B0 F1 B1"), ops("F0 F1 B0 B1")]
        #expect(throws: PipelineSimulator.Failure.self) {
            try PipelineSimulator.simulate(
                lists: bad, microBatches: 2, costs: Array(repeating: StageCosts(forward: 1, backward: 1), count: 2))
        }
    }

    @Test func partitionBalancesFLOPsOverWholeBlocks() throws {
        let model = Sequential(mlp: [64, 64, 64, 64, 64])  // four equal Dense blocks (the first has no dX: cheaper)
        let two = try StagePartition.balanced(model, stages: 2)
        #expect(two.layerRanges == [0..<4, 4..<7])
        let four = try StagePartition.balanced(model, stages: 4)
        #expect(four.layerRanges == [0..<2, 2..<4, 4..<6, 6..<7])
        // One big layer: it gets a stage of its own.
        let skew = Sequential(mlp: [512, 16, 16, 16, 10])
        #expect(try StagePartition.balanced(skew, stages: 2).layerRanges == [0..<2, 2..<7])
        #expect(try StagePartition.explicit(model, blocksPerStage: [1, 3]).layerRanges == [0..<2, 2..<7])
        #expect(throws: RuntimeError.self) { try StagePartition.balanced(model, stages: 5) }
        #expect(throws: RuntimeError.self) { try StagePartition.explicit(model, blocksPerStage: [2, 1]) }
    }
}
