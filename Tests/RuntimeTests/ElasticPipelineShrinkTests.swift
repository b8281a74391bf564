import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Runtime
import Testing
import Training

/// Issue 14, item 4: a DP × PP grid under `elastic:` loses a whole replica when one of its stages dies, and the
/// other replicas go on in memory. Ranks as threads over inproc://, as `ElasticShrinkTests` does for data
/// parallelism: the coordinator's part (aborting the old membership, the new peer table) is played by the test.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ElasticPipelineShrinkTests {
    static func job(steps: Int) -> JobSpec { smallJob(steps: steps, batch: 30, layers: [16, 24, 20, 12, 5]) }

    static func stage(
        _ rank: Int, _ layout: RankLayout, steps: Int, data: JobData, _ c: Communicator,
        continuing: PipelineStageWorker? = nil
    ) throws -> PipelineStageWorker {
        let a = pipelineAssignment(
            rank: rank, layout: layout, job: job(steps: steps), microBatches: 3, schedule: .oneForwardOneBackward)
        return try PipelineStageWorker(assignment: a, data: data, communicator: c, control: nil, continuing: continuing)
    }

    /// Ranks as threads over inproc://: each trains `job` as its stage of `layout`, then runs `body` on it.
    static func afterTraining<T: Sendable>(
        _ layout: RankLayout, _ job: JobSpec, _ body: @escaping @Sendable (PipelineStageWorker, Communicator) throws -> T
    ) throws -> [Result<T, any Error>] {
        let data = try job.loadData()
        let comms = try Communicator.local(size: layout.worldSize)
        for c in comms { c.options.timeout = 20 }
        return runRanks(comms) { comm in
            let a = pipelineAssignment(
                rank: comm.rank, layout: layout, job: job, microBatches: 3, schedule: .oneForwardOneBackward)
            let w = try PipelineStageWorker(assignment: a, data: data, communicator: comm, control: nil)
            _ = try w.run()
            return try body(w, comm)
        }
    }

    /// 3 replicas × 2 stages. Replica 1 stops after `lostAfter` steps (both its stages); the other replicas are
    /// then blocked in the next step's all-reduces until the new membership aborts them. They re-form as 2 × 2
    /// on the same data planes, agree and finish. Returns each survivor's (old rank, stage, agreement, weights).
    static func shrink(lostAfter: Int, steps: Int, sharedMemory: Bool) throws -> [(Int, Int, StageAgreement, [Float])] {
        let data = try job(steps: steps).loadData()
        var options = CommunicatorOptions()
        options.sharedMemory = sharedMemory
        let grid = RankLayout(dataParallel: 3, pipelineStages: 2)
        let comms = try Communicator.local(size: 6, options: options)
        for c in comms { c.options.timeout = 20 }
        let planes = comms.map(\.plane)
        let lost = grid.pipeline(replica: 1)
        let survivors = (0..<6).filter { !lost.contains($0) }
        let table = survivors.map { planes[$0].endpoint }
        let smaller = RankLayout(dataParallel: 2, pipelineStages: 2)
        let results = runRanks(comms) { comm -> (Int, Int, StageAgreement, [Float])? in
            if lost.contains(comm.rank) {
                _ = try stage(comm.rank, grid, steps: lostAfter, data: data, comm).run()
                if comm.rank == lost[0] {
                    usleep(200_000)
                    for r in survivors { planes[r].abortCollectives(before: 2, reason: "replica 1 was lost") }
                }
                return nil
            }
            let first = try stage(comm.rank, grid, steps: steps, data: data, comm)
            do {
                _ = try first.run()
                throw TestFailure("rank \(comm.rank) finished a membership that lost a replica")
            } catch is CollectiveError {}
            let newRank = try #require(survivors.firstIndex(of: comm.rank))
            let world = try Communicator(plane: comm.plane, rank: newRank, peers: table, epoch: 2)
            world.options.timeout = 20
            let next = try stage(newRank, smaller, steps: steps, data: data, world, continuing: first)
            let agreement = try next.agreeStageState(world: world)
            _ = try next.run(agreedStep: agreement.step)
            return (comm.rank, next.stage, agreement, next.parameters.array)
        }
        return try results.compactMap { try $0.get() }
    }

    /// The survivors redo the interrupted step with the same global batch over two replicas: they end where one
    /// process on the same global batches ends, and the two replicas of each stage hold identical weights.
    @Test(arguments: [false, true])
    func survivorsFinishLikeOneProcess(sharedMemory: Bool) async throws {
        let steps = 24
        let kept = try await onOwnThread { try Self.shrink(lostAfter: 9, steps: steps, sharedMemory: sharedMemory) }
        #expect(kept.map(\.0) == [0, 1, 4, 5])
        #expect(kept.allSatisfy { $0.2.step == 9 && $0.2.stepsBefore == [9, 9, 9, 9] }, "\(kept.map(\.2))")
        for s in 0..<2 {
            let replicas = kept.filter { $0.1 == s }
            #expect(replicas.count == 2 && replicas[0].3 == replicas[1].3, "stage \(s)'s replicas differ")
        }
        let single = try TrainingLoop(job: Self.job(steps: steps), data: try Self.job(steps: steps).loadData())
        try single.run()
        let reference = single.trainer.model.parameters.array
        let grid = kept.filter { $0.0 < 2 }.sorted { $0.1 < $1.1 }.flatMap(\.3)
        #expect(grid.count == reference.count)
        var worst: Float = 0
        for (a, b) in zip(grid, reference) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        #expect(worst <= 1e-5, "shrunk grid vs one process on the same global batches: \(worst)")
    }

    /// Stage 0 of both replicas got through the gate and applied step 3's update; stage 1's all-reduce had
    /// finished but the abort took its gate. The agreement has stage 1 finish its update with the norm stage 0
    /// used: bit for bit the weights of an update that was never cut off. The clip is far below the gradient's
    /// norm, so a stage that clipped by any other norm would end elsewhere.
    @Test func aStageBehindFinishesItsCutOffUpdate() throws {
        let job = {
            var j = Self.job(steps: 3)
            j.regularization.clipNorm = 0.01
            return j
        }()
        let results = try Self.afterTraining(RankLayout(dataParallel: 2, pipelineStages: 2), job) { w, comm in
            let g = w.trainer.model.gradients
            let fill = { for i in 0..<g.count { g.pointer[i] = Float(i % 7 + 1) * (w.stage == 0 ? 0.5 : -0.25) } }
            let before = StageStateSnapshot()
            before.capture(w.trainer)
            fill()
            try w.reduceAndUpdate()  // the update as it should be: both replicas' sum, the replica's norm
            let reference = w.parameters.array
            if w.stage == 1 {
                // Back to where the abort left it: step 3, the replicas' sum in its gradients, no gate.
                before.restore(into: w.trainer)
                fill()
                for i in 0..<g.count { g.pointer[i] *= 2 }
                w.updates.pendingStep = 3
                w.updates.penalized = true
                w.updates.gate = nil
            }
            let agreement = try w.agreeStageState(world: comm)
            return (w.stage, agreement, w.parameters.array == reference, w.trainer.step)
        }
        for r in results {
            let (stage, agreement, equal, step) = try r.get()
            #expect(agreement.stepsBefore == [4, 3, 4, 3] && agreement.step == 4)
            #expect(agreement.finishedUpdate == (stage == 1))
            #expect(agreement.replicas?.source == nil, "each stage's replicas already agreed")
            #expect(equal && step == 4, "stage \(stage) must hold the uncut update's weights")
        }
    }

    /// A stage behind with nothing to finish (its all-reduce never ended) is brought to the furthest step by a
    /// copy from a replica that has it.
    @Test func aStageBehindWithoutItsSumIsCopied() throws {
        let results = try Self.afterTraining(RankLayout(dataParallel: 2, pipelineStages: 2), Self.job(steps: 3)) { w, comm in
            let before = StageStateSnapshot()
            before.capture(w.trainer)
            w.trainer.model.gradients.buffer.update(repeating: 0.125)
            try w.reduceAndUpdate()
            let reference = w.parameters.array
            if w.replica == 1 && w.stage == 1 { before.restore(into: w.trainer) }
            let agreement = try w.agreeStageState(world: comm)
            return (comm.rank, agreement, w.parameters.array == reference)
        }
        for r in results {
            let (rank, agreement, equal) = try r.get()
            #expect(agreement.stepsBefore == [4, 4, 4, 3] && agreement.step == 4 && !agreement.finishedUpdate)
            #expect(agreement.replicas?.source == (rank % 2 == 1 ? 0 : nil), "rank \(rank): \(agreement)")
            #expect(equal, "rank \(rank)")
        }
    }

    /// A replica of fresh stages joins a grid: its stages have no say in the step and take their replicas'
    /// state in the agreement, so the grid goes on from the members' step with identical weights everywhere.
    @Test func aJoiningReplicaTakesTheMembersState() throws {
        let grid = RankLayout(dataParallel: 2, pipelineStages: 2)
        let results = try Self.afterTraining(grid, Self.job(steps: 3)) { trained, comm in
            let table = (0..<grid.worldSize).map { comm.endpoint(of: $0) }
            let data = trained.data
            let members = trained.parameters.array
            // The next membership, as the coordinator forms it: replica 0 carries its state over, replica 1 starts
            // over as a joiner would, a fresh stage at step 0 with the job's initial weights.
            let world = try Communicator(plane: comm.plane, rank: comm.rank, peers: table, epoch: 2)
            world.options.timeout = 20
            let w = try Self.stage(comm.rank, grid, steps: 3, data: data, world, continuing: comm.rank < 2 ? trained : nil)
            if comm.rank >= 2 { w.updates.joining = true }
            let fresh = w.parameters.array != members
            let agreement = try w.agreeStageState(world: world)
            return (comm.rank, fresh, agreement, w.parameters.array == members, w.trainer.step, w.updates.joining)
        }
        for r in results {
            let (rank, fresh, agreement, equal, step, joining) = try r.get()
            #expect(fresh == (rank >= 2))
            #expect(agreement.stepsBefore == [3, 3, 0, 0] && agreement.step == 3 && !agreement.finishedUpdate)
            #expect(agreement.replicas?.source == 0, "rank \(rank): \(agreement)")
            #expect(equal && step == 3 && !joining, "rank \(rank)")
        }
    }

    /// A join: only the last stage learns of the new membership (its assignment came first), and only from step 3
    /// on. Its vote goes round the pipeline with step 3's gate, so both stages leave at the boundary after step 3,
    /// neither beginning a step the other will not finish; before the vote neither leaves.
    @Test func aJoinVoteTakesTheWholePipelineOutAfterTheSameStep() throws {
        let layout = RankLayout(dataParallel: 1, pipelineStages: 2)
        let job = Self.job(steps: 10)
        let data = try job.loadData()
        let comms = try Communicator.local(size: 2)
        for c in comms { c.options.timeout = 20 }
        let results = runRanks(comms) { comm -> (left: Int, error: String) in
            let w = try Self.stage(comm.rank, layout, steps: 10, data: data, comm)
            if w.stage == 1 { w.joinPending = { [unowned w] in w.trainer.step >= 3 } }
            w.membershipEnded = { voted in voted ? "left for the next membership" : nil }
            do {
                _ = try w.run()
                return (w.trainer.step, "finished")
            } catch {
                return (w.trainer.step, "\(error)")
            }
        }
        for (rank, r) in results.enumerated() {
            let (left, error) = try r.get()
            #expect(left == 4, "rank \(rank) left after step \(left)")
            #expect(error.contains("left for the next membership"), "rank \(rank): \(error)")
        }
    }

    /// Two steps apart cannot happen in a grid (a stage cannot begin a step its neighbours have not finished the
    /// last of); if it did, the agreement refuses rather than guessing, and the job falls back to its checkpoints.
    @Test func stagesTwoStepsApartAreRefused() throws {
        let results = try Self.afterTraining(RankLayout(dataParallel: 1, pipelineStages: 2), Self.job(steps: 2)) { w, comm in
            if w.stage == 1 { w.trainer.resume(atStep: 4) }
            return try w.agreeStageState(world: comm)
        }
        for r in results {
            #expect {
                _ = try r.get()
            } throws: { "\($0)".contains("the stages' completed steps [2, 4] differ by more than one") }
        }
    }
}
