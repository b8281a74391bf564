import CohortTestSupport
import Collectives
import Config
import Datasets
import Foundation
import NN
import Parallel
import Runtime
import Testing
import Training

/// `elastic: {deterministic: true}` (ranks as threads over inproc://): a batch splits into `max_workers` logical
/// shards whatever the membership and their gradients are summed exactly, so the weights after any membership
/// history are bitwise those of an uninterrupted run, which plain data parallelism does not give.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct DeterministicElasticTests {
    static let logicalShards = 4

    /// Batch 30 over 4 logical shards: 7, 8, 7, 8 rows (uneven, as a global batch over 3 replicas is).
    static func job(steps: Int) -> JobSpec {
        var job = smallJob(steps: steps, batch: 30, layers: [16, 24, 5])
        job.data.maxTrainExamples = 300
        return job
    }

    static func elasticAssignment(rank: Int, ranks: Int, steps: Int, deterministic: Bool = true) -> Assignment {
        var a = assignment(rank: rank, ranks: ranks, job: job(steps: steps))
        a.elastic = ElasticSpec(maxWorkers: logicalShards, deterministic: deterministic)
        return a
    }

    /// Weights after `steps` steps on `ranks` replicas from the start.
    static func uninterrupted(ranks: Int, steps: Int, deterministic: Bool = true) throws -> [Float] {
        let data = try job(steps: steps).loadData()
        if ranks == 1 {
            let w = try DataParallelWorker(
                assignment: elasticAssignment(rank: 0, ranks: 1, steps: steps, deterministic: deterministic), data: data,
                communicator: nil, control: nil)
            _ = try w.run()
            return w.trainer.model.parameters.array
        }
        let comms = try Communicator.local(size: ranks)
        let results = runRanks(comms) { comm in
            let w = try DataParallelWorker(
                assignment: elasticAssignment(rank: comm.rank, ranks: ranks, steps: steps, deterministic: deterministic),
                data: data, communicator: comm, control: nil)
            _ = try w.run()
            return w.trainer.model.parameters.array
        }
        let params = try results.map { try $0.get() }
        #expect(Set(params).count == 1, "replicas of one run hold identical weights")
        return params[0]
    }

    @Test func sameWeightsWhateverTheReplicaCount() throws {
        let steps = 12
        let four = try Self.uninterrupted(ranks: 4, steps: steps)
        for ranks in [1, 2, 3] {
            #expect(try Self.uninterrupted(ranks: ranks, steps: steps) == four, "\(ranks) replicas against 4")
        }
        // The exact sum is the gradient of the global batch: one process on the same batches, within float error.
        let single = try TrainingLoop(job: Self.job(steps: steps), data: try Self.job(steps: steps).loadData())
        try single.run()
        let worst = zip(four, single.trainer.model.parameters.array).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst <= 1e-5, "deterministic sum vs one process: \(worst)")
        // Plain data parallelism adds in an order that follows the replica count.
        let plain = try Self.uninterrupted(ranks: 4, steps: steps, deterministic: false)
        #expect(try Self.uninterrupted(ranks: 3, steps: steps, deterministic: false) != plain)
    }

    /// Membership 3 → 2 → 3: rank 2 leaves after step 5 and rejoins after step 10, healed from the survivors by the
    /// state agreement; the weights equal an uninterrupted 3-replica run bit for bit.
    @Test func shrinkAndGrowEqualsUninterrupted() throws {
        let total = 15
        let data = try Self.job(steps: total).loadData()
        let comms = try Communicator.local(size: 3)
        for c in comms { c.options.timeout = 20 }
        let table = comms.map(\.plane.endpoint)
        // Membership 3 forms once both survivors stopped at step 10, as the coordinator admits a joiner at a step
        // boundary.
        let pairDone = DispatchSemaphore(value: 0)
        let results = runRanks(comms) { comm -> [Float] in
            let first = try DataParallelWorker(
                assignment: Self.elasticAssignment(rank: comm.rank, ranks: 3, steps: 5), data: data, communicator: comm,
                control: nil)
            _ = try first.run()
            var trainer = first.trainer
            if comm.rank < 2 {
                let pair = try Communicator(plane: comm.plane, rank: comm.rank, peers: Array(table[0..<2]), epoch: 2)
                pair.options.timeout = 20
                let agreed = try agreeReplicaState(trainer, communicator: pair)
                let second = try DataParallelWorker(
                    assignment: Self.elasticAssignment(rank: comm.rank, ranks: 2, steps: 10), data: data,
                    communicator: pair, control: nil, continuing: trainer)
                _ = try second.run(agreedStep: agreed.step)
                trainer = second.trainer
                pairDone.signal()
            } else {
                pairDone.wait()
                pairDone.wait()
            }
            let all = try Communicator(plane: comm.plane, rank: comm.rank, peers: table, epoch: 3)
            all.options.timeout = 20
            let agreed = try agreeReplicaState(trainer, communicator: all)
            #expect(agreed.step == 10 && agreed.stepsBefore == [10, 10, 5])
            let third = try DataParallelWorker(
                assignment: Self.elasticAssignment(rank: comm.rank, ranks: 3, steps: total), data: data,
                communicator: all, control: nil, continuing: trainer)
            _ = try third.run(agreedStep: agreed.step)
            return third.trainer.model.parameters.array
        }
        let params = try results.map { try $0.get() }
        #expect(Set(params).count == 1, "all three replicas hold identical weights")
        #expect(params[0] == (try Self.uninterrupted(ranks: 3, steps: total)), "bitwise equal to the uninterrupted run")
    }
}
