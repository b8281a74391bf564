import Foundation
import Runtime
import Testing

@Suite(.timeLimit(.minutes(1)))
struct ResumeTests {
    /// 10 steps, a checkpoint, a new process state resumed from it for 10 more steps: bitwise the same weights as
    /// 20 uninterrupted steps (weights, momentum and the data cursor all restored).
    @Test func resumedRunEqualsUninterruptedRun() throws {
        let dir = try temporaryDirectory()
        var job = smallJob(steps: 20, batch: 32)
        job.epochs = 1
        let data = try job.loadData()

        let straight = try DataParallelWorker(assignment: assignment(rank: 0, ranks: 1, job: job), data: data,
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
