import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Testing
import Training

@Suite(.timeLimit(.minutes(4)))
struct PruningTrainingTests {
    /// Pruned weights stay exactly 0 through 25 steps of each optimizer (momentum, Nesterov, Adam, AdamW with weight
    /// decay), while the kept ones train.
    @Test(arguments: ["momentum", "nesterov", "adam", "adamw"])
    func masksStayZeroThroughOptimizerSteps(optimizer: String) throws {
        var job = smallJob(steps: 25)
        job.optimizer.name = optimizer
        job.optimizer.lr = optimizer.hasPrefix("adam") ? 0.01 : 0.05
        if optimizer == "adamw" { job.optimizer.weightDecay = 0.1 }
        let loop = try TrainingLoop(job: job, data: try job.loadData())
        let model = loop.trainer.model
        let masks = try MagnitudePruning.prune(model, sparsity: 0.6, global: true)
        let mask = PruningMask(model: model, denseMasks: masks)
        loop.trainer.parameterConstraints = [mask]
        let before = model.parameters.array
        try loop.run()
        let after = model.parameters.array
        #expect(zip(mask.mask, after).allSatisfy { $0 != 0 || $1 == 0 }, "a pruned weight came back")
        let keptChanged = zip(zip(mask.mask, before), after).filter { $0.0 == 1 && $0.1 != $1 }.count
        #expect(keptChanged > after.count / 4, "kept weights did not train (\(keptChanged))")
        #expect(abs(MagnitudePruning.sparsity(of: model) - 0.6) < 0.01)
    }

    /// Data-parallel training with the same masks on every replica: replicas bitwise identical, pruned weights 0.
    @Test func dataParallelReplicasKeepMasksAndAgree() throws {
        let job = smallJob(steps: 20, batch: 30)
        let data = try job.loadData()
        let comms = try Communicator.local(size: 2)
        let results = runRanks(comms) { comm in
            let w = try DataParallelWorker(
                assignment: assignment(rank: comm.rank, ranks: 2, job: job), data: data, communicator: comm, control: nil)
            let masks = try MagnitudePruning.prune(w.trainer.model, sparsity: 0.5, global: false)
            let mask = PruningMask(model: w.trainer.model, denseMasks: masks)
            w.trainer.parameterConstraints = [mask]
            _ = try w.run()
            return (w.trainer.model.parameters.array, mask.mask)
        }
        let outs = try results.map { try $0.get() }
        #expect(outs[0].0 == outs[1].0, "replicas must be bitwise identical")
        #expect(outs[0].1 == outs[1].1, "replicas must prune the same weights")
        #expect(zip(outs[0].1, outs[0].0).allSatisfy { $0 != 0 || $1 == 0 })
    }

    /// Zhu & Gupta's cubic schedule: s_i at the start, s_f from the end on, and the cubic in between; training
    /// under it ends at the final sparsity.
    @Test func gradualScheduleIsCubicAndReachesTheTarget() throws {
        var job = smallJob(steps: 40)
        job.model.layers = [16, 32, 5]
        let loop = try TrainingLoop(job: job, data: try job.loadData())
        let g = try GradualPruning(
            model: loop.trainer.model, initialSparsity: 0.1, finalSparsity: 0.9, startStep: 5, steps: 20, interval: 5)
        for (step, want) in [(0, 0.1), (5, 0.1), (25, 0.9), (99, 0.9)] {
            #expect(abs(g.sparsity(at: step) - want) < 1e-12, "step \(step)")
        }
        #expect(abs(g.sparsity(at: 15) - (0.9 - 0.8 * 0.125)) < 1e-12)
        loop.trainer.parameterConstraints = [g]
        try loop.run()
        #expect(abs(MagnitudePruning.sparsity(of: loop.trainer.model) - 0.9) < 0.01)
        #expect(throws: PruningError.self) { _ = try GradualPruning(model: loop.trainer.model, finalSparsity: 1, steps: 10) }
    }
}

@Suite(.timeLimit(.minutes(4)))
struct CompressionJobTests {
    /// `job.compression` from YAML prunes gradually during training, in one process and across 2 data-parallel
    /// replicas (bitwise identical, the same final sparsity); bad values and unknown keys name the key and line.
    @Test func jobCompressionPrunesDuringTraining() throws {
        let dir = try TestFiles.scratchDirectory("compression")
        defer { TestFiles.cleanup(dir) }
        func load(_ compression: String) throws -> JobSpec {
            let path = dir.appendingPathComponent("job.yaml").path
            let text = """
                job:
                  model: {layers: [16, 24, 5], activation: tanh}
                  data: {dataset: synthetic}
                  batch_size: 30
                  steps: 30
                  seed: 7
                  compression: \(compression)
                """
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return try JobSpec.load(configFile: path)
        }
        let job = try load("{sparsity: 0.75, steps: 20, interval: 4}")
        #expect(job.compression?.sparsity == 0.75 && job.compression?.interval == 4)
        let data = try job.loadData()
        let single = try TrainingLoop(job: job, data: data)
        try single.run()
        #expect(abs(MagnitudePruning.sparsity(of: single.trainer.model) - 0.75) < 0.01)
        let comms = try Communicator.local(size: 2)
        let results = runRanks(comms) { comm in
            let w = try DataParallelWorker(
                assignment: assignment(rank: comm.rank, ranks: 2, job: job), data: data, communicator: comm, control: nil)
            _ = try w.run()
            return (w.trainer.model.parameters.array, MagnitudePruning.sparsity(of: w.trainer.model))
        }
        let outs = try results.map { try $0.get() }
        #expect(outs[0].0 == outs[1].0, "replicas must be bitwise identical")
        #expect(abs(outs[0].1 - 0.75) < 0.01)
        for (bad, key) in [("{sparsity: 1.0}", "compression.sparsity"), ("{sparsity: 0.5, scope: all}", "compression.scope")] {
            do {
                try load(bad).validate()
                Issue.record("\(bad) accepted")
            } catch {
                #expect("\(error)".contains(key) && !"\(error)".contains("\n"), "\(error)")
            }
        }
        do { _ = try load("{sparsity: 0.5, foo: 1}") } catch { #expect("\(error)".contains("foo"), "\(error)") }
    }
}
