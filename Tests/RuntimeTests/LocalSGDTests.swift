import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Runtime
import Testing
import Training

/// Local SGD / DiLoCo (`parallelism.sync`): H inner steps per replica, then the averaged pseudo-gradient and one
/// outer step. Ranks as threads over inproc://.
@Suite(.timeLimit(.minutes(4)))
struct LocalSGDTests {
    func train(ranks: Int, job: JobSpec, sync: SyncSpec?) throws -> [[Float]] {
        let data = try job.loadData()
        let comms = try Communicator.local(size: ranks)
        let results = runRanks(comms) { comm in
            var a = assignment(rank: comm.rank, ranks: ranks, job: job)
            a.parallelism.sync = sync
            let w = try DataParallelWorker(assignment: a, data: data, communicator: comm, control: nil)
            _ = try w.run()
            return w.trainer.model.parameters.array
        }
        return try results.map { try $0.get() }
    }

    /// With H = 1 and outer SGD at lr 1, θ_start − mean(Δ) is the mean of the replicas' one-step weights: plain
    /// data parallelism with SGD (each replica's loss averaged over its own rows, the deltas averaged).
    @Test(arguments: [2, 3])
    func oneStepPeriodsWithOuterSGDAtRateOneEqualDataParallel(ranks: Int) throws {
        var job = smallJob(steps: 15, batch: 30)
        job.optimizer.name = "sgd"
        let plain = try train(ranks: ranks, job: job, sync: nil)
        let local = try train(ranks: ranks, job: job, sync: SyncSpec(everySteps: 1, outerOptimizer: .sgd, outerLR: 1))
        for p in local.dropFirst() { #expect(p == local[0], "replicas must be bitwise identical") }
        var worst: Float = 0
        for (a, b) in zip(local[0], plain[0]) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        #expect(worst <= 1e-5, "local SGD H=1 vs data parallel: largest relative difference \(worst)")
    }

    /// Nesterov outer steps every 4 inner steps, over 22 steps (the last period is cut short and still ends in a
    /// synchronisation): the replicas end bitwise identical, and not where plain data parallelism ends.
    @Test func replicasAreBitwiseIdenticalAfterEverySynchronisation() throws {
        let job = smallJob(steps: 22, batch: 30)
        let local = try train(ranks: 3, job: job, sync: SyncSpec(everySteps: 4))
        for p in local.dropFirst() { #expect(p == local[0], "replicas must be bitwise identical") }
        #expect(local[0].allSatisfy { $0.isFinite })
        let plain = try train(ranks: 3, job: job, sync: nil)
        #expect(plain[0] != local[0])
    }

    @Test func aDivergingReplicaStopsEveryRankAtTheSameSynchronisation() throws {
        var diverging = smallJob(steps: 30, batch: 30)
        diverging.optimizer.lr = 1e30
        let job = diverging
        let data = try job.loadData()
        let comms = try Communicator.local(size: 2)
        let results = runRanks(comms) { comm -> String in
            var a = assignment(rank: comm.rank, ranks: 2, job: job)
            a.parallelism.sync = SyncSpec(everySteps: 3)
            let w = try DataParallelWorker(assignment: a, data: data, communicator: comm, control: nil)
            do {
                _ = try w.run()
                return "finished"
            } catch let e as TrainingDiverged {
                return "step \(e.step)"
            }
        }
        let outcomes = try results.map { try $0.get() }
        #expect(outcomes[0] == outcomes[1], "\(outcomes)")
        #expect(outcomes[0].hasPrefix("step "), "\(outcomes)")
        if let step = Int(outcomes[0].dropFirst(5)) { #expect(step % 3 == 0, "diverged at step \(step), not a synchronisation") }
    }

    /// The outer state rides in the checkpoint beside the optimizer's slots and comes back into the outer
    /// optimizer, not the inner one.
    @Test func theOuterStateIsCheckpointedAndRestored() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cohort-outer-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = smallJob(steps: 4)
        let comms = try Communicator.local(size: 1)
        func trainer() throws -> (Trainer, OuterOptimizer) {
            let t = Trainer(
                model: try job.makeModel(), optimizer: try job.makeOptimizer(), schedule: job.makeSchedule(totalSteps: 4))
            let spec = SyncSpec(everySteps: 2, outerOptimizer: .nesterov, outerLR: 0.7, outerMomentum: 0.9)
            let o = OuterOptimizer(spec: spec, communicator: comms[0], parameters: t.model.parameters)
            t.checkpointedState.append(o)
            return (t, o)
        }
        let (t1, o1) = try trainer()
        t1.model.parameters.buffer.update(repeating: 0.25)
        _ = try o1.synchronize(t1.model.parameters)  // Δ = θ_start − 0.25: a real outer step with momentum
        let checkpoints = TrainingCheckpoints(spec: CheckpointSpec(directory: dir.path))
        try checkpoints.save(t1, epoch: 0, stepInEpoch: 2, seed: 7)
        let (t2, o2) = try trainer()
        _ = try checkpoints.restoreLatest(into: t2)
        #expect(o2.start == o1.start)
        #expect(o2.checkpointSlots() == o1.checkpointSlots())
    }

    static let badValues: [ClusterConfigTests.BadCase] = [
        .init(
            old: "  pipeline_stages: 1", new: "  pipeline_stages: 1\n  sync: {every_steps: 0}",
            keyPath: "parallelism.sync.every_steps", message: "must be at least 1, got 0", lineMarker: "sync: {every_steps: 0}"),
        .init(
            old: "  pipeline_stages: 1", new: "  pipeline_stages: 1\n  sync: {every_steps: -1}",
            keyPath: "parallelism.sync.every_steps", message: "must be at least 1, got -1", lineMarker: "every_steps: -1"),
        .init(
            old: "  pipeline_stages: 1", new: "  pipeline_stages: 1\n  sync:\n    every_steps: 8\n    outer_momentum: 1.5",
            keyPath: "parallelism.sync.outer_momentum", message: "must be in [0, 1), got 1.5", lineMarker: "outer_momentum: 1.5"),
        .init(
            old: "  pipeline_stages: 1", new: "  pipeline_stages: 1\n  sync: {every_steps: 8, outer_optimizer: adam}",
            keyPath: "parallelism.sync.outer_optimizer", message: "adam", lineMarker: "outer_optimizer: adam"),
    ]

    @Test(arguments: badValues) func badSyncValuesNameTheirKeyAndLine(_ c: ClusterConfigTests.BadCase) {
        ClusterConfigTests().expectError(c)
    }
}
