import Collectives
import Config
import Foundation
import Training
import Transport

/// One change of an elastic job's membership, as the progress line and the metrics file tell it:
/// `workers 3→2 at step 1234: rank 2 on 10.77.0.13 (pid 4242) was lost; resharded`.
public struct MembershipChange: Sendable, Codable, Equatable {
    /// The membership formed (one more than the one that ended).
    public var membership: UInt32
    public var workersBefore: Int
    public var workersAfter: Int
    /// The furthest step any member had reported when the change was decided.
    public var step: Int
    /// The lost member: its rank in the ended membership, host and pid, and why it was declared lost. For a join,
    /// the joiner: its rank in the new membership, host and pid.
    public var lostRank: Int
    public var host: String
    public var pid: Int32
    public var reason: String
    /// Seconds from the moment the death was known (a process exit or the missed deadline) to the new
    /// assignments being sent.
    public var decisionSeconds: Double
    /// CLOCK_MONOTONIC nanoseconds when the death became known here (a script compares its kill time with it).
    public var detectedAtNanoseconds: UInt64
    /// True when a worker joined (a restarted or new one) rather than one being lost.
    public var joined: Bool?

    public var line: String {
        if joined == true {
            return "workers \(workersBefore)→\(workersAfter) at step \(step): rank \(lostRank) on \(host) (pid \(pid)) joined"
        }
        return
            "workers \(workersBefore)→\(workersAfter) at step \(step): rank \(lostRank) on \(host) (pid \(pid)) was lost (\(reason)); resharded"
    }
}

/// Worker exits the launcher saw, handed from its process-exit handlers to the coordinator's thread.
final class ExitNotices: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [(host: String, pid: Int32, status: Int32, at: UInt64)] = []

    func add(host: String, pid: Int32, status: Int32) {
        lock.withLock { pending.append((host, pid, status, Deadline.nowNanoseconds())) }
    }

    func take() -> [(host: String, pid: Int32, status: Int32, at: UInt64)] {
        lock.withLock {
            defer { pending.removeAll() }
            return pending
        }
    }
}

extension Coordinator {
    /// From any thread (the launcher's exit handler): the worker process `pid` on `host` ended with `status`.
    /// Elastic training drops it from the membership at the next turn of the supervision loop, without waiting
    /// out the peer deadline; otherwise the workers' own reports and the deadline name it, as before.
    public func workerExited(host: String, pid: Int32, status: Int32) {
        exits.add(host: host, pid: pid, status: status)
    }

    /// Exits of current members seen by the launcher: each is a lost member (elastic) or, with elastic off, left
    /// to the heartbeats and the survivors' reports as before.
    func checkExits(_ state: inout Supervision) throws {
        // A clean exit follows the worker's own `.done` or `.failed`, which may still be on its way: not a loss.
        for exit in exits.take() where exit.status != 0 {
            guard elasticMembership != nil,
                let r = members.firstIndex(where: {
                    $0.final == nil && $0.registration.pid == exit.pid && $0.registration.host == exit.host
                })
            else { continue }
            let m = members[r]
            let death = RuntimeError.peerDead(
                rank: r, host: m.registration.host, detail: "its process (pid \(exit.pid)) exited with status \(exit.status)")
            try loseMember(r, why: "exited with status \(exit.status)", death: death, since: exit.at, &state)
        }
    }

    /// Elastic training: `rank` is gone. The survivors, in their ranks' order (the cluster file's), form the next
    /// membership and get their new ranks and peer table; below `min_workers` the job ends with `death`.
    func loseMember(
        _ rank: Int, why: String, death: RuntimeError, since: UInt64 = Deadline.nowNanoseconds(), _ state: inout Supervision
    ) throws {
        guard let elastic = elasticMembership else { throw death }
        let lost = members[rank]
        let before = members.count
        let step = members.compactMap(\.latest?.step).max() ?? 0
        let stages = stagesPerReplica
        var reason = why
        if stages > 1 {
            // A pipeline needs all its stages, and no survivor's state can stand in for its lost one: the grid
            // goes on without the whole replica. Without a replica to spare, or below the minimum, it ends as
            // without `elastic:` (`launch` restarts it whole from its checkpoints under `elastic.restart`).
            guard members.count - stages >= max(elastic.minWorkers, stages) else { throw death }
            reason += "; its replica's other stages left"
            dropReplica(of: rank, because: "rank \(rank) on \(lost.registration.host) (pid \(lost.registration.pid)) \(why)")
        } else {
            members.remove(at: rank)
        }
        lostMembers.append("rank \(rank) on \(lost.registration.host) (pid \(lost.registration.pid))")
        guard members.count >= elastic.minWorkers else {
            throw stopBelowMinimum(
                "workers \(before)→\(members.count) at step \(step), below elastic.min_workers \(elastic.minWorkers): \(death)")
        }
        assignRanks(epoch: membershipEpoch + 1)
        state.rankOf = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.identity, $0) })
        // Epoch-end reports of the ended membership are of other shards: the epoch is summarised from the new one.
        state.epochReports = [:]
        let change = MembershipChange(
            membership: membershipEpoch, workersBefore: before, workersAfter: members.count, step: step,
            lostRank: rank, host: lost.registration.host, pid: lost.registration.pid, reason: reason,
            decisionSeconds: Double(Deadline.nowNanoseconds() &- since) / 1e9, detectedAtNanoseconds: since)
        onEvent(.membershipChanged(change))
        metrics?.write(.membership(change))
    }
}

extension Coordinator {
    /// DP × PP: removes the replica that holds `rank` (ranks are replica-major, its stages consecutive) and tells
    /// its other stages, which are alive but have no pipeline left, to stop.
    func dropReplica(of rank: Int, because lost: String) {
        let stages = stagesPerReplica
        let replica = rank / stages
        let ranks = (replica * stages)..<min(replica * stages + stages, members.count)
        for r in ranks where r != rank && members[r].final == nil {
            send(
                .stop(
                    reason: RuntimeError.dismissalPrefix
                        + "its replica \(replica) was dropped: its stage \(rank % stages), \(lost)"),
                to: members[r].identity)
            dismissed.insert(members[r].identity)
            lostMembers.append(
                "rank \(r) on \(members[r].registration.host) (pid \(members[r].registration.pid), replica dropped)")
        }
        members.removeSubrange(ranks)
    }
}

extension Coordinator {
    /// Elastic training: a registration while the job runs (a worker `launch` restarted, or a new
    /// `cohort worker`). Below `max_workers`, and while no member has finished, it becomes a candidate: it is sent
    /// the job (`prepare`) and loads its data while the members train on; its `ready` admits it (`admitCandidate`).
    /// Returns false when the registration is not taken (the caller refuses it as before).
    func prepareJoiner(_ frames: [Message]) -> Bool {
        let waiting = candidates.map(\.member) + readyJoiners.map(\.member)
        guard hasRoomForJoiner, let joiner = admit(frames, arrivals: members + waiting) else {
            return false
        }
        // The members' endpoints, for the joiner to connect to while it loads (not a peer table: no rank yet).
        let stages = stagesPerReplica
        let grown = members.count + stages
        var job = assignment(
            rank: -1, worldSize: grown, peers: members.map(\.registration.dataEndpoint), hosts: [],
            layout: RankLayout(dataParallel: grown / stages, pipelineStages: stages), epoch: membershipEpoch)
        job.membersStep = members.compactMap(\.latest?.step).max()
        candidates.append((joiner, Deadline.nowNanoseconds()))
        send(.prepare(job), to: joiner.identity)
        return true
    }

    /// Elastic training below `max_workers`, with no member finished yet: a joiner may come in. A DP × PP grid
    /// grows by a whole replica, so the joiners already waiting count.
    private var hasRoomForJoiner: Bool {
        guard let elastic = elasticMembership, !members.contains(where: { $0.final != nil }) else { return false }
        let waiting = stagesPerReplica > 1 ? candidates.count + readyJoiners.count : 0
        return members.count + waiting < elastic.maximum(configured: workers)
    }

    /// A candidate's `ready`: its data is loaded. While there is room, the members, in the cluster file's order,
    /// form the next membership with it (the survivors finish their step and the next one has the joiner) and
    /// the replicas' state agreement copies the weights, optimizer state and step to it; else it is told why not.
    /// In a DP × PP grid the joiners wait for each other until they make a replica. False when `identity` is no
    /// candidate.
    func admitCandidate(_ identity: [UInt8], _ state: inout Supervision) -> Bool {
        guard let i = candidates.firstIndex(where: { $0.member.identity == identity }) else { return false }
        let candidate = candidates.remove(at: i)
        let stages = stagesPerReplica
        var joiners = [candidate.member]
        if stages > 1 {
            readyJoiners.append(candidate)
            guard readyJoiners.count >= stages else { return true }
            joiners = readyJoiners.prefix(stages).map(\.member)
            readyJoiners.removeFirst(stages)
        }
        let alive = !members.contains { $0.final != nil }
        guard let elastic = elasticMembership, alive, members.count + joiners.count <= elastic.maximum(configured: workers)
        else {
            for j in joiners {
                send(.stop(reason: "not admitted: the job has no room for another worker now"), to: j.identity)
            }
            return true
        }
        grow(by: joiners, &state)
        return true
    }

    /// The next membership with `joiners`: a data-parallel joiner takes its place in the cluster file's order; a
    /// grid's replica of joiners comes after the members (whose stages must not move), in that order among itself.
    private func grow(by joiners: [Member], _ state: inout Supervision) {
        let before = members.count
        let step = members.compactMap(\.latest?.step).max() ?? 0
        members = stagesPerReplica > 1 ? members + rankOrder(joiners) : rankOrder(members + joiners)
        healTrace("admit")
        assignRanks(epoch: membershipEpoch + 1, joiners: Set(joiners.map(\.identity)))
        state.rankOf = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.identity, $0) })
        state.epochReports = [:]
        let ranks = joiners.map { j in members.firstIndex { $0.identity == j.identity } ?? members.count - 1 }
        for (rank, joiner) in zip(ranks, joiners).sorted(by: { $0.0 < $1.0 }) {
            members[rank].joinedAt = Deadline.nowNanoseconds()
            members[rank].lastSeen = Deadline.nowNanoseconds()
            let change = MembershipChange(
                membership: membershipEpoch, workersBefore: before, workersAfter: members.count, step: step,
                lostRank: rank, host: joiner.registration.host, pid: joiner.registration.pid, reason: "joined",
                decisionSeconds: 0, detectedAtNanoseconds: Deadline.nowNanoseconds(), joined: true)
            onEvent(.membershipChanged(change))
            metrics?.write(.membership(change))
        }
    }
}

extension Coordinator {
    /// `elastic.join_timeout_s`: a joiner that has reported no step that long after it was admitted (stuck loading
    /// its data, or hung) would hold the survivors at the new membership's first barrier. It is told why and
    /// dropped, and the survivors go on without it in the next membership.
    func checkJoins(now: UInt64, _ state: inout Supervision) throws {
        guard let elastic = elasticMembership else { return }
        releaseUnstartedJoiners(now: now, &state)
        let limit = UInt64(elastic.joinTimeout * 1e9)
        dropSlowCandidates(now: now, limit: limit, timeout: elastic.joinTimeout)
        for (r, m) in members.enumerated() {
            guard m.final == nil, m.latest == nil, let since = m.joinedAt, now > since, now - since > limit else { continue }
            let why = "no step within elastic.join_timeout_s \(elastic.joinTimeout) s of joining"
            send(.stop(reason: "not admitted: \(why)"), to: m.identity)
            let death = RuntimeError.peerDead(
                rank: r, host: m.registration.host, detail: "\(why) (pid \(m.registration.pid))")
            try loseMember(r, why: why, death: death, &state)
            return
        }
    }
}

extension Coordinator {
    /// Joiners admitted at the job's last step never train: the members they were to join have finished. Once
    /// every other member has, a joiner that has reported no step and no end within a grace (a joiner that did
    /// train ends with the members, its last reports a moment behind theirs) is told so and let go, instead of
    /// holding the job's end for `elastic.join_timeout_s`.
    func releaseUnstartedJoiners(now: UInt64, _ state: inout Supervision) {
        let unstarted = members.filter { $0.final == nil && $0.latest == nil && $0.joinedAt != nil }
        let others = members.filter { m in !unstarted.contains { $0.identity == m.identity } }
        guard !unstarted.isEmpty, !others.isEmpty, others.allSatisfy({ $0.final != nil }) else {
            othersFinishedAt = nil
            return
        }
        let since = othersFinishedAt ?? now
        othersFinishedAt = since
        guard now > since, Double(now - since) / 1e9 > max(1, 2 * timeouts.heartbeatInterval) else { return }
        for j in unstarted {
            send(.stop(reason: "not admitted: the job has finished"), to: j.identity)
            dismissed.insert(j.identity)
            onEvent(
                .warning(
                    "joiner on \(j.registration.host) (pid \(j.registration.pid)) let go: the job finished before its first step"
                ))
        }
        members.removeAll { m in unstarted.contains { $0.identity == m.identity } }
        state.rankOf = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.identity, $0) })
    }
}

extension Coordinator {
    /// Candidates that have not said `ready` within `elastic.join_timeout_s` of `prepare` (stuck loading their data,
    /// or hung) are told why and forgotten; the members never waited for them.
    func dropSlowCandidates(now: UInt64, limit: UInt64, timeout: Double) {
        let slow = (candidates + readyJoiners).filter { now > $0.since && now - $0.since > limit }
        guard !slow.isEmpty else { return }
        candidates.removeAll { c in slow.contains { $0.member.identity == c.member.identity } }
        readyJoiners.removeAll { c in slow.contains { $0.member.identity == c.member.identity } }
        for c in slow {
            let why = "not ready within elastic.join_timeout_s \(timeout) s of registering"
            send(.stop(reason: "not admitted: \(why)"), to: c.member.identity)
            onEvent(.warning("joiner on \(c.member.registration.host) (pid \(c.member.registration.pid)) not admitted: \(why)"))
        }
    }
}
