import CohortTestSupport
import Collectives
import Config
import Foundation
import Parallel
import Runtime
import Testing
import Training

@Suite(.timeLimit(.minutes(3)))
struct ResumeTests {
    /// 10 steps, a checkpoint, a new process state resumed from it for 10 more steps: bitwise the same weights as
    /// 20 uninterrupted steps (weights, momentum and the data cursor all restored).
    @Test func resumedRunEqualsUninterruptedRun() throws {
        let dir = try temporaryDirectory()
        var job = smallJob(steps: 20, batch: 32)
        job.epochs = 1
        let data = try job.loadData()

        let straight = try DataParallelWorker(
            assignment: assignment(rank: 0, ranks: 1, job: job), data: data,
            communicator: nil, control: nil)
        _ = try straight.run()

        var first = assignment(rank: 0, ranks: 1, job: job)
        first.job.steps = 10
        first.checkpoint = CheckpointSpec(directory: dir.path, everySteps: 5, keep: 2)
        // The schedule must see the whole run's length: constant here, so a 10-step run is the first half.
        _ = try DataParallelWorker(assignment: first, data: data, communicator: nil, control: nil).run()
        #expect(latestValidCheckpoint(in: dir.path)?.step == 10)

        var second = assignment(rank: 0, ranks: 1, job: job)
        second.checkpoint = CheckpointSpec(directory: dir.path, everySteps: 5, keep: 2)
        second.run.resume = true
        let resumed = try DataParallelWorker(assignment: second, data: data, communicator: nil, control: nil)
        let report = try resumed.run()
        #expect(report.steps == 20)
        #expect(resumed.trainer.model.parameters.array == straight.trainer.model.parameters.array)
    }
}

@Suite(.timeLimit(.minutes(3)))
struct DataParallelResumeTests {
    func run(
        _ job: JobSpec, _ data: JobData, ranks: Int, steps: Int, directories: [String], every: Int, resume: Bool,
        timeout: Double = 20
    ) throws -> [Result<[Float], any Error>] {
        let comms = try Communicator.local(size: ranks)
        for c in comms { c.options.timeout = timeout }
        return runRanks(comms) { comm in
            var a = assignment(rank: comm.rank, ranks: ranks, job: job)
            a.job.steps = steps
            a.checkpoint = CheckpointSpec(directory: directories[comm.rank], everySteps: every, keep: 2)
            a.run.resume = resume
            let w = try DataParallelWorker(assignment: a, data: data, communicator: comm, control: nil)
            let report = try w.run()
            #expect(report.steps == steps)
            return w.trainer.model.parameters.array
        }
    }

    /// Two ranks, 10 steps, then 10 more resumed: bitwise the weights of 20 uninterrupted steps on both ranks.
    @Test func twoRanksResumeBitwise() throws {
        let dir = try temporaryDirectory().path
        let job = smallJob(steps: 20, batch: 30)
        let data = try job.loadData()
        let straight = try run(
            job, data, ranks: 2, steps: 20, directories: [dir + "/unused", dir + "/unused"], every: 100, resume: false
        )
        .map { try $0.get() }
        _ = try run(job, data, ranks: 2, steps: 10, directories: [dir, dir], every: 5, resume: false).map { try $0.get() }
        let resumed = try run(job, data, ranks: 2, steps: 20, directories: [dir, dir], every: 5, resume: true).map {
            try $0.get()
        }
        #expect(resumed == straight)
    }

    /// A rank whose copy of the directory lacks rank 0's newest step (another host, a stale copy) fails naming
    /// itself and the step, instead of resuming with other optimizer moments than rank 0's.
    @Test func aRankWithoutRankZerosStepFailsClearly() throws {
        let dir = try temporaryDirectory().path
        let job = smallJob(steps: 20, batch: 30)
        let data = try job.loadData()
        _ = try run(job, data, ranks: 2, steps: 10, directories: [dir, dir], every: 5, resume: false).map { try $0.get() }
        let results = try run(
            job, data, ranks: 2, steps: 20, directories: [dir, dir + "/elsewhere"], every: 5, resume: true, timeout: 2)
        guard case .failure(let e) = results[1] else {
            Issue.record("rank 1 resumed without the checkpoint")
            return
        }
        #expect("\(e)".contains("rank 1") && "\(e)".contains("step 10"), "\(e)")
    }
}
