import Config
import Foundation
import NN
import Runtime
import Testing
import Training

@Suite(.timeLimit(.minutes(4)))
struct PipelineClippingTests {
    /// Global-norm clipping lives in `Trainer.applyUpdate` alone; the pipeline hands it a reducer that sums the
    /// stages' squared norms. With a clip far below the gradient's norm every step is clipped, so a stage that
    /// clipped by its own slice's norm would end far from one process.
    @Test(arguments: [(1, 2, 3, PipelineSchedule.gpipe), (2, 3, 2, .oneForwardOneBackward)])
    func clippedPipelineEqualsSingleProcess(d: Int, k: Int, m: Int, schedule: PipelineSchedule) throws {
        var job = smallJob(steps: 12, batch: 30, layers: [16, 24, 20, 12, 5])
        job.regularization.clipNorm = 0.01
        job.regularization.l2 = 1e-3
        let data = try job.loadData()
        let single = try TrainingLoop(job: job, data: data)
        try single.run()
        let reference = single.trainer.model.parameters.array

        var unclipped = job
        unclipped.regularization.clipNorm = nil
        let free = try TrainingLoop(job: unclipped, data: data)
        try free.run()
        let freeParams = free.trainer.model.parameters.array
        let clipEffect = zip(freeParams, reference).map { abs($0 - $1) }.max() ?? 0
        #expect(clipEffect > 1e-3, "the clip must change the result for this test to mean anything")

        let stages = try trainPipeline(job: job, data: data, dataParallel: d, stages: k, microBatches: m, schedule: schedule)
        for replica in 0..<d {
            let params = stages.filter { $0.replica == replica }.sorted { $0.stage < $1.stage }.flatMap(\.parameters)
            #expect(params.count == reference.count)
            var worst: Float = 0
            for (a, b) in zip(params, reference) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
            #expect(worst <= 1e-5, "D=\(d) K=\(k) M=\(m): replica \(replica) largest relative difference \(worst)")
        }
    }
}
