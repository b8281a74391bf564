import Config
import Foundation
import Training
import Transport

/// The standby coordinator (`cluster.coordinator.standby`, `cohort coordinator --standby`). The coordinator is
/// the one process a job cannot lose today: its workers save and stop when it goes silent (torchft's lighthouse has
/// the same weakness). The data plane does not need it, though: the ring runs between the workers. So the standby
/// replicates nothing: each worker that finds the coordinator silent past the peer deadline reports to the standby
/// with its registration, rank and membership (`rejoin`) and trains on. Once every member of that membership has,
/// the standby supervises them as its own: heartbeats, reports, deaths and the summary, with no step lost. It takes
/// over only when all of them agree the coordinator is gone, so two coordinators never supervise one job; when
/// only some report within twice the peer deadline, it tells those to save and stop, as without a standby.
extension Coordinator {
    func superviseTakenOver() throws -> JobSummary {
        try takeOver()
        do {
            return try supervise()
        } catch {
            broadcast(.stop(reason: "\(error)"))
            throw error
        }
    }

    /// Waits for the rejoins of one whole membership; then `members` and `membershipEpoch` are theirs.
    private func takeOver() throws {
        var rejoins: [[UInt8]: Rejoin] = [:]
        // A member that finishes between the coordinator's loss and the takeover sends its final report here.
        var finals: [[UInt8]: FinalReport] = [:]
        var firstAt: UInt64?
        while true {
            if let reason = interruption.reason {
                for identity in rejoins.keys { send(.finalCheckpoint(reason: reason), to: identity) }
                throw RuntimeError.invalid(reason)
            }
            if let firstAt, Deadline.nowNanoseconds() - firstAt > UInt64(2 * timeouts.peerDeadline * 1e9) {
                let reason = incompleteTakeover(rejoins)
                for identity in rejoins.keys { send(.finalCheckpoint(reason: reason), to: identity) }
                throw RuntimeError.invalid(reason)
            }
            let frames: [Message]?
            do {
                frames = try receiveControl(deadline: .after(seconds: 0.1))
            } catch TransportError.timeout {
                continue
            }
            guard let frames, let message = decodeControl(frames) else { continue }
            let identity = Array(frames[0].bytes)
            if case .done(let f) = message, rejoins[identity] != nil {
                finals[identity] = f
                continue
            }
            guard let rejoin = acceptedRejoin(message, frames) else { continue }
            rejoins[identity] = rejoin
            firstAt = firstAt ?? Deadline.nowNanoseconds()
            if let whole = wholeMembership(rejoins) {
                adopt(whole, finals: finals)
                return
            }
        }
    }

    /// A `rejoin` this standby can take: the same protocol, a rank inside its membership. Anything else waiting
    /// for a takeover is dropped and counted; another version is told why.
    private func acceptedRejoin(_ message: ControlMessage, _ frames: [Message]) -> Rejoin? {
        guard case .rejoin(let r) = message else {
            drop(.unexpected, frames, "a message other than rejoin before the standby took over")
            return nil
        }
        guard r.registration.protocolVersion == ControlMessage.protocolVersion else {
            send(
                .stop(
                    reason:
                        "protocol version \(r.registration.protocolVersion) is not the standby coordinator's \(ControlMessage.protocolVersion)"
                ), to: Array(frames[0].bytes))
            return nil
        }
        guard r.worldSize >= 1, r.worldSize <= 1 << 20, (0..<r.worldSize).contains(r.rank) else {
            drop(.unexpected, frames, "a rejoin as rank \(r.rank) of \(r.worldSize) workers")
            return nil
        }
        return r
    }

    /// The newest membership's rejoins when every one of its ranks has sent one, in rank order.
    private func wholeMembership(_ rejoins: [[UInt8]: Rejoin]) -> [(identity: [UInt8], rejoin: Rejoin)]? {
        guard let epoch = rejoins.values.map(\.membershipEpoch).max() else { return nil }
        let newest = rejoins.filter { $0.value.membershipEpoch == epoch }.map { (identity: $0.key, rejoin: $0.value) }
        guard let size = newest.first?.rejoin.worldSize, newest.allSatisfy({ $0.rejoin.worldSize == size }),
            Set(newest.map(\.rejoin.rank)) == Set(0..<size), newest.count == size
        else { return nil }
        return newest.sorted { $0.rejoin.rank < $1.rejoin.rank }
    }

    private func adopt(_ whole: [(identity: [UInt8], rejoin: Rejoin)], finals: [[UInt8]: FinalReport]) {
        let now = Deadline.nowNanoseconds()
        members = whole.map {
            Member(identity: $0.identity, registration: $0.rejoin.registration, lastSeen: now, final: finals[$0.identity])
        }
        membershipEpoch = whole[0].rejoin.membershipEpoch
        if let path = config.output.metricsFile {
            do {
                metrics = try MetricsWriter(path: path, append: true)
            } catch {
                onEvent(.warning("standby coordinator: no metrics after the takeover: \(error)"))
            }
        }
        let hosts = whole.map { "rank \($0.rejoin.rank) on \($0.rejoin.registration.host) (pid \($0.rejoin.registration.pid))" }
        onEvent(
            .warning(
                "standby coordinator took over membership \(membershipEpoch): every worker reported the coordinator lost (\(hosts.joined(separator: ", ")))"
            ))
    }

    private func incompleteTakeover(_ rejoins: [[UInt8]: Rejoin]) -> String {
        let epoch = rejoins.values.map(\.membershipEpoch).max() ?? 0
        let newest = rejoins.values.filter { $0.membershipEpoch == epoch }
        let size = newest.first?.worldSize ?? 0
        let ranks = newest.map(\.rank).sorted().map(String.init).joined(separator: ", ")
        return
            "standby coordinator took nothing over: only rank(s) \(ranks) of the \(size) workers of membership \(epoch) reported the coordinator lost within \(2 * timeouts.peerDeadline) s"
    }
}
