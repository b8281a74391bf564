import CohortTestSupport
import Collectives
import Config
import Foundation
import Parallel
import Runtime
import Testing
import Training

@Suite(.timeLimit(.minutes(4)))
struct PipelineResumeTests {
    /// Runs a D × K pipeline as threads with `checkpoint` and `resume`, `steps` steps; every rank's parameters.
    func run(_ job: JobSpec, _ data: JobData, d: Int, k: Int, steps: Int, checkpoint: CheckpointSpec?, resume: Bool) throws
        -> [StageResult]
    {
        let layout = RankLayout(dataParallel: d, pipelineStages: k)
        let comms = try Communicator.local(size: layout.worldSize)
        for c in comms { c.options.timeout = 20 }
        let results = runRanks(comms) { comm in
            var a = pipelineAssignment(
                rank: comm.rank, layout: layout, job: job, microBatches: 3, schedule: .oneForwardOneBackward)
            a.job.steps = steps
            a.checkpoint = checkpoint
            a.run.resume = resume
            let w = try PipelineStageWorker(assignment: a, data: data, communicator: comm, control: nil)
            let report = try w.run()
            #expect(report.steps == steps)
            return StageResult(stage: w.stage, replica: w.replica, parameters: w.parameters.array, slots: w.slotCount)
        }
        return try results.map { try $0.get() }.sorted { ($0.replica, $0.stage) < ($1.replica, $1.stage) }
    }

    /// 10 steps with a checkpoint every 5, then a new pipeline resumed from them for 10 more: bitwise the weights
    /// of 20 uninterrupted steps on every stage (each stage's slice, its momentum and the data cursor restored),
    /// with one directory per stage. The schedule's length is the whole run's in both halves (constant lr).
    @Test(arguments: [(1, 2), (2, 2), (1, 3)])
    func resumedPipelineEqualsUninterrupted(d: Int, k: Int) throws {
        let dir = try temporaryDirectory()
        let job = smallJob(steps: 20, batch: 30, layers: [16, 24, 20, 12, 5])
        let data = try job.loadData()
        let spec = CheckpointSpec(directory: dir.path, everySteps: 5, keep: 2)
        let straight = try run(job, data, d: d, k: k, steps: 20, checkpoint: nil, resume: false)
        _ = try run(job, data, d: d, k: k, steps: 10, checkpoint: spec, resume: false)
        for s in 0..<k {
            #expect(latestValidCheckpoint(in: dir.appendingPathComponent("stage-\(s)").path)?.step == 10, "stage \(s)")
        }
        let resumed = try run(job, data, d: d, k: k, steps: 20, checkpoint: spec, resume: true)
        #expect(resumed.map(\.parameters) == straight.map(\.parameters))
    }

    /// A stage that lost its newest checkpoint (killed while the others saved): all stages resume from the newest
    /// step every stage holds, and the result is still bitwise the uninterrupted run's.
    @Test func stagesResumeFromTheirNewestCommonStep() throws {
        let dir = try temporaryDirectory()
        let job = smallJob(steps: 20, batch: 30, layers: [16, 24, 20, 12, 5])
        let data = try job.loadData()
        let spec = CheckpointSpec(directory: dir.path, everySteps: 5, keep: 3)
        let straight = try run(job, data, d: 1, k: 2, steps: 20, checkpoint: nil, resume: false)
        _ = try run(job, data, d: 1, k: 2, steps: 10, checkpoint: spec, resume: false)
        // The first stage lost it: the last stage, which decides, must not take its own newest.
        let stage0 = dir.appendingPathComponent("stage-0")
        let newest = try FileManager.default.contentsOfDirectory(atPath: stage0.path).filter {
            $0.hasPrefix("ckpt-000000000010") && $0.hasSuffix(".json")
        }  // step 10's manifest and state
        #expect(!newest.isEmpty)
        for name in newest { try FileManager.default.removeItem(at: stage0.appendingPathComponent(name)) }
        #expect(latestValidCheckpoint(in: stage0.path)?.step == 5)
        #expect(latestValidCheckpoint(in: dir.appendingPathComponent("stage-1").path)?.step == 10)
        let resumed = try run(job, data, d: 1, k: 2, steps: 20, checkpoint: spec, resume: true)
        #expect(resumed.map(\.parameters) == straight.map(\.parameters))
    }

    /// Stages with checkpoints but none of a common step: a clear error on every stage, not a silent restart.
    @Test func noCommonStepIsAnError() throws {
        let dir = try temporaryDirectory()
        let job = smallJob(steps: 20, batch: 30, layers: [16, 24, 20, 12, 5])
        let data = try job.loadData()
        _ = try run(
            job, data, d: 1, k: 2, steps: 5, checkpoint: CheckpointSpec(directory: dir.path, everySteps: 5, keep: 1),
            resume: false)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("stage-1"))
        _ = try run(
            job, data, d: 1, k: 2, steps: 10,
            checkpoint: CheckpointSpec(directory: dir.appendingPathComponent("other").path, everySteps: 10, keep: 1),
            resume: false)
        try FileManager.default.moveItem(
            at: dir.appendingPathComponent("other/stage-1"), to: dir.appendingPathComponent("stage-1"))
        let layout = RankLayout(dataParallel: 1, pipelineStages: 2)
        let comms = try Communicator.local(size: 2)
        for c in comms { c.options.timeout = 10 }
        let results = runRanks(comms) { comm in
            var a = pipelineAssignment(
                rank: comm.rank, layout: layout, job: job, microBatches: 3, schedule: .oneForwardOneBackward)
            a.checkpoint = CheckpointSpec(directory: dir.path, everySteps: 5, keep: 1)
            a.run.resume = true
            _ = try PipelineStageWorker(assignment: a, data: data, communicator: comm, control: nil).run()
            return ""
        }
        for r in results {
            #expect(throws: (any Error).self) { try r.get() }
            if case .failure(let e) = r { #expect("\(e)".contains("no valid checkpoint of a common step"), "\(e)") }
        }
    }
}
