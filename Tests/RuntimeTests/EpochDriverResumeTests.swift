import Datasets
import Foundation
import Testing
import Training

/// The epoch loop resumed at a point: an elastic membership formed after the last step (a join at the very end of a
/// grid's run, which can cut the last epoch's evaluation short) still ends with an evaluation, and a resume inside
/// the run evaluates once per epoch, as an uninterrupted run does.
@Suite struct EpochDriverResumeTests {
    /// Counts the steps and evaluations the driver asks for.
    final class CountingStep: TrainingStep {
        let trainer: Trainer
        var steps = 0
        var evaluations = 0

        init() throws {
            let job = smallSyntheticJob()
            trainer = Trainer(
                model: try job.makeModel(), optimizer: try job.makeOptimizer(), schedule: job.makeSchedule(totalSteps: 1))
        }

        func step(_ index: Int, permutation: [Int]) throws -> StepRecord {
            steps += 1
            let now = DispatchTime.now().uptimeNanoseconds
            return StepRecord(loss: 0, correct: 0, samples: 1, start: now, end: now + 1)
        }

        func evaluate() throws -> Int {
            evaluations += 1
            return evaluations
        }
    }

    func run(resumingAt step: Int, stepsPerEpoch: Int = 5, epochs: Int = 3) throws -> (CountingStep, Int?) {
        let plan = EpochPlan(exampleCount: stepsPerEpoch * 4, globalBatchSize: 4, seed: 1)
        var options = EpochDriver<CountingStep>.Options(plan: plan, epochs: epochs, totalSteps: epochs * stepsPerEpoch)
        options.resumeAt = ResumePoint(step: step, epoch: step / stepsPerEpoch, stepInEpoch: step % stepsPerEpoch)
        let counting = try CountingStep()
        let result = try EpochDriver(step: counting, options: options).run()
        return (counting, result.lastEvaluation)
    }

    @Test func resumedAfterTheLastStepStillEvaluates() throws {
        let (counting, evaluation) = try run(resumingAt: 15)
        #expect(counting.steps == 0)
        #expect(counting.evaluations == 1)
        #expect(evaluation == 1)
    }

    @Test func resumedInsideTheRunEvaluatesEachRemainingEpochOnce() throws {
        let (counting, evaluation) = try run(resumingAt: 7)
        #expect(counting.steps == 8)
        #expect(counting.evaluations == 2)
        #expect(evaluation == 2)
        let (fromStart, _) = try run(resumingAt: 0)
        #expect(fromStart.steps == 15 && fromStart.evaluations == 3)
    }
}
