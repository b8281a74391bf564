import Config
import Datasets
import Parallel
import Training

/// The end of an elastic data-parallel worker's job by the coordinator's stop. Below `elastic.min_workers` the
/// coordinator asks the lowest surviving rank for a final checkpoint (`finalCheckpoint`): that rank saves its
/// last completed step, so that `launch --resume` loses only the step in flight, and its error says where.
/// The error returned is the coordinator's reason (not the aborted collective's), or `error` when the job did not
/// end by a stop (a coordinator loss keeps its own saved-step error).
func endedByStop(
    _ error: Error, trainer: Trainer?, assignment: Assignment, data: JobData, control: WorkerControl
) -> Error {
    guard control.coordinatorLoss == nil, let reason = control.stopReason else { return error }
    guard control.finalCheckpointAsked else { return RuntimeError.stopped(reason) }
    guard let spec = assignment.checkpoint else {
        return RuntimeError.stopped("\(reason); no final checkpoint: checkpoint: is not configured")
    }
    // The trainer's step counts the updates it applied: an aborted step never reached its update.
    guard let trainer, trainer.step > 0 else {
        return RuntimeError.stopped("\(reason); no final checkpoint: no step was completed")
    }
    let job = assignment.job
    let steps = job.epochPlan(exampleCount: data.train.count).stepsPerEpoch
    let n = trainer.step
    guard steps > 0 else { return RuntimeError.stopped("\(reason); no final checkpoint: an epoch has no step") }
    do {
        let path = try TrainingCheckpoints(spec: spec).save(
            trainer, epoch: n / steps, stepInEpoch: n % steps, seed: job.seed)
        control.post(.checkpointed(rank: assignment.rank, step: n, path: path))
        return RuntimeError.stopped("\(reason); saved step \(n) to \(path) (continue with launch --resume)")
    } catch {
        return RuntimeError.stopped("\(reason); saving step \(n) failed: \(error)")
    }
}
