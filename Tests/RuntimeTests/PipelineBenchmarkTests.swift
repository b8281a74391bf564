import Config
import Parallel
import Runtime
import Testing

@Suite(.timeLimit(.minutes(3)))
struct PipelineBenchmarkTests {
    /// The benchmark's bookkeeping (not its timings): every activation and gradient crosses each stage boundary
    /// exactly once per step, slots follow the schedule, and the costs it feeds the simulator are positive.
    @Test(arguments: [(2, 3, PipelineSchedule.gpipe), (2, 3, .oneForwardOneBackward), (4, 2, .oneForwardOneBackward)])
    func measurementBookkeeping(k: Int, m: Int, schedule: PipelineSchedule) throws {
        let job = PipelineBenchmark.balancedJob(width: 16, batch: 48)
        let data = try job.loadData()
        let r = try PipelineBenchmark.measure(
            job: job, data: data, stages: k, microBatches: m, schedule: schedule, warmup: 1, steps: 3)
        #expect(r.bytesPerStep == 2 * (k - 1) * 48 * 16 * 4)
        #expect(r.maxStashed == (schedule == .gpipe ? m : min(k, m)))
        #expect(r.costs.count == k && r.costs.allSatisfy { $0.forward > 0 && $0.backward > 0 })
        #expect(r.bubble >= 0 && r.bubble < 1 && r.stepSeconds >= r.pipelineSeconds)
        let sim = try PipelineSimulator.simulate(schedule, microBatches: m, costs: r.costs)
        #expect(sim.makespan > 0)
    }
}
