import Config
import Foundation
import Training
import Transport

extension Coordinator {
    /// `elastic:` as membership sees it: data parallelism, and DP × PP grids, which shrink by a whole replica
    /// (`loseMember`). A lone pipeline's stage cannot be rebuilt from peers, so its death ends the job as without
    /// `elastic:`, and `launch` restarts the whole job from the newest checkpoint every stage holds
    /// (`launchCluster`).
    var elasticMembership: ElasticSpec? {
        stagesPerReplica == 1 || workers / stagesPerReplica > 1 ? config.elastic : nil
    }

    /// The workers of one replica: the pipeline's stages (1 for data parallelism).
    var stagesPerReplica: Int { max(config.parallelism.pipelineStages, 1) }

    /// Elastic training fell below `min_workers`: the job ends, cleanly. The survivors are told to stop; the lowest
    /// surviving rank is first asked to save its last completed step (when `checkpoint:` is configured), and the
    /// error (the one line `launch` prints) names the change, every lost worker and where that checkpoint is, or
    /// why there is none.
    func stopBelowMinimum(_ change: String) -> RuntimeError {
        let lost = lostMembers.count > 1 ? "; lost during the job: \(lostMembers.joined(separator: ", "))" : ""
        let line = change + lost
        jobEnding.abandon(line)
        for m in members.dropFirst() where m.final == nil { send(.stop(reason: line), to: m.identity) }
        guard let saver = members.first, saver.final == nil else { return .invalid("\(line); no survivor to save") }
        guard config.checkpoint != nil else {
            send(.stop(reason: line), to: saver.identity)
            return .invalid("\(line); no final checkpoint: checkpoint: is not configured")
        }
        send(.finalCheckpoint(reason: line), to: saver.identity)
        return .invalid("\(line); \(awaitFinalCheckpoint(from: saver))")
    }

    /// The saver's answer: where its `checkpointed` report put the step, or the failure it reported. Waits for its
    /// `failed` (the end of its run, sent after the checkpoint) so that `launch` does not stop it before it said so
    /// itself; bounded by the peer deadline plus the time a save may take, so that a saver that died too cannot
    /// hold the coordinator.
    private func awaitFinalCheckpoint(from saver: Member) -> String {
        let who = "the lowest surviving worker (\(saver.registration.host), pid \(saver.registration.pid))"
        let seconds = config.timeouts.peerDeadline + 10
        let deadline = Deadline.after(seconds: seconds)
        var saved: String?
        while !deadline.hasPassed {
            // `byteArray`, not `bytes`: the frame may be released right after its last use.
            guard let frames = try? receiveControl(deadline: deadline), frames.first?.byteArray == saver.identity,
                let message = decodeControl(frames)
            else { continue }
            switch message {
            case .checkpointed(_, let step, let path):
                saved = "\(who) saved step \(step) to \(path) (continue with launch --resume)"
            case .failed(_, let why): return saved ?? "\(who) saved no final checkpoint: \(why)"
            case .done: return "\(who) had already finished"
            default: continue
            }
        }
        return saved ?? "\(who) reported no final checkpoint within \(seconds) s"
    }
}
