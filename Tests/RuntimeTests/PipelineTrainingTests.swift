import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Runtime
import Testing
import Training

func pipelineAssignment(
    rank: Int, layout: RankLayout, job: JobSpec, microBatches: Int,
    schedule: PipelineSchedule
) -> Assignment {
    Assignment(
        rank: rank, worldSize: layout.worldSize, peers: [], hosts: Array(repeating: "127.0.0.1", count: layout.worldSize),
        layout: layout, job: job,
        parallelism: ParallelismSpec(
            dataParallel: layout.dataParallel, pipelineStages: layout.pipelineStages,
            microBatches: microBatches, schedule: schedule),
        timeouts: TimeoutSpec(), checkpoint: nil, run: RunOptions())
}

struct StageResult: Sendable {
    var stage: Int, replica: Int, parameters: [Float], slots: Int
}

/// Runs a D × K pipeline as threads over inproc:// and returns every rank's stage parameters.
func trainPipeline(
    job: JobSpec, data: JobData, dataParallel d: Int, stages k: Int, microBatches m: Int,
    schedule: PipelineSchedule
) throws -> [StageResult] {
    let layout = RankLayout(dataParallel: d, pipelineStages: k)
    let comms = try Communicator.local(size: layout.worldSize)
    for c in comms { c.options.timeout = 20 }
    let results = runRanks(comms) { comm in
        let w = try PipelineStageWorker(
            assignment: pipelineAssignment(
                rank: comm.rank, layout: layout, job: job,
                microBatches: m, schedule: schedule),
            data: data, communicator: comm, control: nil)
        _ = try w.run()
        return StageResult(stage: w.stage, replica: w.replica, parameters: w.parameters.array, slots: w.slotCount)
    }
    return try results.map { try $0.get() }
}

@Suite(.timeLimit(.minutes(4)))
struct PipelineTrainingTests {
    /// K-stage training must equal one process on the same global batches after 20 steps: per-micro-batch
    /// gradients are accumulated, the loss averaged over the global batch, so only float summation order differs.
    @Test(arguments: [
        (1, 2, 4, PipelineSchedule.gpipe), (1, 2, 4, .oneForwardOneBackward),
        (1, 3, 5, .gpipe), (1, 3, 5, .oneForwardOneBackward),
        (1, 3, 2, .oneForwardOneBackward),  // M < K
        (1, 2, 1, .gpipe),  // M = 1
        (2, 2, 3, .oneForwardOneBackward), (2, 2, 4, .gpipe),  // DP × PP
    ])
    func pipelineEqualsSingleProcess(d: Int, k: Int, m: Int, schedule: PipelineSchedule) throws {
        // Momentum SGD, not Adam: Adam's update is nearly invariant to a wrong gradient scale, SGD's is not.
        let job = smallJob(steps: 20, batch: 30, layers: [16, 24, 20, 12, 5])
        let data = try job.loadData()
        let single = try TrainingLoop(job: job, data: data)
        try single.run()
        let reference = single.trainer.model.parameters.array

        let stages = try trainPipeline(job: job, data: data, dataParallel: d, stages: k, microBatches: m, schedule: schedule)
        for replica in 0..<d {
            let params = stages.filter { $0.replica == replica }.sorted { $0.stage < $1.stage }.flatMap(\.parameters)
            #expect(params.count == reference.count)
            var worst: Float = 0
            for (a, b) in zip(params, reference) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
            #expect(worst <= 1e-5, "D=\(d) K=\(k) M=\(m) \(schedule): replica \(replica) largest relative difference \(worst)")
        }
        // Activation memory: GPipe holds M micro-batches, 1F1B at most K.
        for s in stages {
            #expect(s.slots == (schedule == .gpipe ? m : min(k - s.stage, m)))
        }
        #expect(reference != Array(repeating: 0, count: reference.count))
    }

    /// A stage whose neighbour never comes up fails within the deadline, naming the neighbour's rank and endpoint.
    @Test func deadNeighbourIsNamedWithinTheDeadline() throws {
        let job = smallJob(steps: 5, batch: 30, layers: [16, 24, 5])
        let data = try job.loadData()
        let layout = RankLayout(dataParallel: 1, pipelineStages: 2)
        let comms = try Communicator.local(size: 2)
        for c in comms { c.options.timeout = 1 }
        let start = Date()
        let results = runRanks(comms, timeout: 20) { comm in
            if comm.rank == 1 { return "" }  // the dead stage: never runs
            let w = try PipelineStageWorker(
                assignment: pipelineAssignment(
                    rank: 0, layout: layout, job: job, microBatches: 2,
                    schedule: .oneForwardOneBackward),
                data: data, communicator: comm, control: nil)
            _ = try w.run()
            return "finished"
        }
        let elapsed = Date().timeIntervalSince(start)
        guard case .failure(let error) = results[0] else {
            Issue.record("stage 0 should fail when stage 1 is dead")
            return
        }
        let text = "\(error)"
        #expect(text.contains("rank 1") && text.contains("inproc://"), "error must name rank 1 and its endpoint: \(text)")
        #expect(elapsed < 5, "took \(elapsed) s with a 1 s deadline")
    }

    /// Evaluation runs through the pipeline: the last stage of each replica scores its share, others report zero,
    /// and the sum equals single-process accuracy on the same weights.
    @Test func pipelineEvaluationMatchesSingleProcess() throws {
        let job = smallJob(steps: 30, batch: 32, layers: [16, 24, 20, 5])
        let data = try job.loadData()
        let single = try TrainingLoop(job: job, data: data)
        try single.run()
        let expected = single.trainer.evaluate(data.test)
        let layout = RankLayout(dataParallel: 2, pipelineStages: 2)
        let comms = try Communicator.local(size: 4)
        let results = runRanks(comms) { comm in
            let w = try PipelineStageWorker(
                assignment: pipelineAssignment(
                    rank: comm.rank, layout: layout, job: job,
                    microBatches: 2, schedule: .gpipe),
                data: data, communicator: comm, control: nil)
            let r = try w.run()
            return [r.testCorrect, r.testCount]
        }
        let counts = try results.map { try $0.get() }
        let correct = counts.reduce(0) { $0 + $1[0] }
        let count = counts.reduce(0) { $0 + $1[1] }
        #expect(count == data.test.count)
        let accuracy = Double(correct) / Double(count)
        #expect(
            abs(accuracy - Double(expected.accuracy)) <= 1.5 / Double(count),
            "pipeline \(accuracy) vs single \(expected.accuracy)")
    }
}

struct PipelinePartitionConfigTests {
    /// `parallelism.stage_layers` splits the model explicitly; training still equals one process.
    @Test func explicitStageLayersTrainLikeOneProcess() throws {
        let job = smallJob(steps: 20, batch: 30, layers: [16, 24, 20, 12, 5])
        let data = try job.loadData()
        let single = try TrainingLoop(job: job, data: data)
        try single.run()
        let reference = single.trainer.model.parameters.array
        let layout = RankLayout(dataParallel: 1, pipelineStages: 2)
        let comms = try Communicator.local(size: 2)
        let results = runRanks(comms) { comm in
            var a = pipelineAssignment(
                rank: comm.rank, layout: layout, job: job, microBatches: 3, schedule: .oneForwardOneBackward)
            a.parallelism.stageLayers = [3, 1]
            let w = try PipelineStageWorker(assignment: a, data: data, communicator: comm, control: nil)
            _ = try w.run()
            return (w.partition.layerRanges.map { [$0.lowerBound, $0.upperBound] }, w.parameters.array)
        }
        let r = try results.map { try $0.get() }
        #expect(r[0].0 == [[0, 6], [6, 7]])
        let params = r[0].1 + r[1].1
        var worst: Float = 0
        for (a, b) in zip(params, reference) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        #expect(params.count == reference.count && worst <= 1e-5, "largest relative difference \(worst)")
    }

    @Test func stageLayersMustCoverTheModel() throws {
        var job = JobSpec()
        job.model.layers = [16, 24, 20, 5]
        job.data.dataset = "synthetic"
        job.batchSize = 32
        for (split, ok) in [([2, 1], true), ([1, 1], false), ([3, 0], false), ([1, 1, 1], false)] {
            let config = ClusterConfig(
                cluster: ClusterSection(coordinator: CoordinatorAddress(host: "127.0.0.1", port: 5555)),
                hosts: [HostSpec(address: "127.0.0.1", workers: 2)], job: job,
                parallelism: ParallelismSpec(pipelineStages: 2, microBatches: 2, stageLayers: split))
            let issues = config.validationIssues().filter { "\($0)".contains("stage_layers") }
            #expect(issues.isEmpty == ok, "stage_layers \(split): \(issues)")
        }
    }
}
