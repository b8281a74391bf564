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

/// Shrinking a data-parallel job in one process (ranks as threads over inproc://): a replica stops answering in
/// the middle of a step's all-reduce, the survivors' collectives are aborted (what a new membership from the
/// coordinator does), they form the next membership on the same data planes, agree on their state and go on.
/// The loss is averaged over the global batch whatever the split, so the survivors must end where one process
/// on the same global batches ends.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ElasticShrinkTests {
    static func job(steps: Int) -> JobSpec {
        var job = smallJob(steps: steps, batch: 40)
        job.optimizer.name = "adam"
        job.optimizer.lr = 0.01
        job.data.maxTrainExamples = 400
        return job
    }

    /// 3 ranks; rank `lost` leaves after `lostAfter` steps; the survivors finish `steps`.
    static func shrink(lost: Int, lostAfter: Int, steps: Int, sharedMemory: Bool) throws -> (
        params: [[Float]], errors: [String], agreed: [Int]
    ) {
        let data = try job(steps: steps).loadData()
        var options = CommunicatorOptions()
        options.sharedMemory = sharedMemory
        let comms = try Communicator.local(size: 3, options: options)
        for c in comms { c.options.timeout = 20 }
        let planes = comms.map(\.plane)
        let survivors = (0..<3).filter { $0 != lost }
        let table = survivors.map { planes[$0].endpoint }
        let results = runRanks(comms) { comm in
            if comm.rank == lost {
                let w = try DataParallelWorker(
                    assignment: assignment(rank: comm.rank, ranks: 3, job: job(steps: lostAfter)), data: data,
                    communicator: comm, control: nil)
                _ = try w.run()
                // The others are now blocked in step lostAfter + 1's all-reduce: the new membership aborts it.
                usleep(200_000)
                for r in survivors { planes[r].abortCollectives(before: 2, reason: "rank \(lost) was lost") }
                return ([Float](), "", -1)
            }
            let first = try DataParallelWorker(
                assignment: assignment(rank: comm.rank, ranks: 3, job: job(steps: steps)), data: data,
                communicator: comm, control: nil)
            var interrupted = ""
            do { _ = try first.run() } catch { interrupted = "\(error)" }
            let newRank = try #require(survivors.firstIndex(of: comm.rank))
            let next = try Communicator(plane: comm.plane, rank: newRank, peers: table, epoch: 2)
            next.options.timeout = 20
            let agreement = try agreeReplicaState(first.trainer, communicator: next)
            let second = try DataParallelWorker(
                assignment: assignment(rank: newRank, ranks: 2, job: job(steps: steps)), data: data,
                communicator: next, control: nil, continuing: first.trainer)
            _ = try second.run(agreedStep: agreement.step)
            return (second.trainer.model.parameters.array, interrupted, agreement.step)
        }
        let values = try results.map { try $0.get() }
        let kept = survivors.map { values[$0] }
        return (kept.map(\.0), kept.map(\.1), kept.map(\.2))
    }

    /// Over sockets only the abort ends the survivors' step (nobody closes a link); over shared memory the
    /// lost rank's closed ring may end it first, and a survivor that fails closes its own links in turn.
    @Test(arguments: [0, 1, 2], [false, true])
    func survivorsFinishLikeOneProcess(lost: Int, sharedMemory: Bool) async throws {
        let steps = 24
        let (params, errors, agreed) = try await onOwnThread {
            try Self.shrink(lost: lost, lostAfter: 9, steps: steps, sharedMemory: sharedMemory)
        }
        for e in errors {
            let ended = e.contains("aborted: rank \(lost) was lost") || (sharedMemory && e.contains("is gone"))
            #expect(ended, "the interrupted step must end by the abort or a closed link: \(e)")
        }
        #expect(agreed == [9, 9], "the interrupted step 10 is redone by both survivors")
        #expect(params[0] == params[1], "survivors must hold bitwise identical weights")
        let single = try TrainingLoop(job: Self.job(steps: steps), data: try Self.job(steps: steps).loadData())
        try single.run()
        let reference = single.trainer.model.parameters.array
        var worst: Float = 0
        for (a, b) in zip(params[0], reference) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        #expect(worst <= 1e-5, "shrunk run vs one process on the same global batches: \(worst)")
    }

    /// One replica finished the interrupted step (its all-reduce had every contribution), another did not: both go
    /// on from the finished step, with the state of the lowest rank that holds it; nothing is copied when states
    /// already agree.
    @Test func theFurthestStateWinsAndIsCopied() throws {
        let job = Self.job(steps: 3)
        let data = try job.loadData()
        let comms = try Communicator.local(size: 3)
        let results = runRanks(comms) { comm in
            // Rank 2 one step ahead.
            let t = try trainedReplica(job, data: data, ahead: comm.rank == 2)
            let before = replicaStateChecksum(t)
            let agreement = try agreeReplicaState(t, communicator: comm)
            let again = try agreeReplicaState(t, communicator: comm)
            return (agreement, again, before, replicaStateChecksum(t), t.step)
        }
        let values = try results.map { try $0.get() }
        let a = values[0].0
        #expect(a.stepsBefore == [3, 3, 4])
        #expect(a.step == 4 && a.source == 2)
        let params = try TrainingLoop(job: job, data: data).trainer.model.parameters.count
        #expect(a.bytesCopied == 2 * 3 * params * 4, "weights and Adam's m and v to two replicas")
        #expect(Set(values.map(\.3)).count == 1 && values[0].3 == values[2].2, "everyone holds rank 2's state")
        #expect(values.allSatisfy { $0.4 == 4 })
        #expect(values[0].1.source == nil && values[0].1.bytesCopied == 0, "a second agreement copies nothing")
    }
}
