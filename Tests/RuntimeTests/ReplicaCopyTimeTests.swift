import CohortTestSupport
import Collectives
import Datasets
import Foundation
import NN
import Parallel
import Testing
import Training

/// The state agreement times its copy: a replica that differs gets the source's state, and every rank reports the
/// copy's seconds and exactly the bytes one receiver got (weights and momentum), over sockets and shared memory.
@Suite(.timeLimit(.minutes(3)))
struct ReplicaCopyTimeTests {
    @Test(arguments: [false, true])
    func aCopyIsTimedAndCountsTheStateBytes(sharedMemory: Bool) throws {
        let job = smallJob(steps: 3, layers: [16, 64, 5])
        let data = try job.loadData()
        var options = CommunicatorOptions()
        options.sharedMemory = sharedMemory
        let comms = try Communicator.local(size: 3, options: options)
        let results = runRanks(comms) { comm in
            // Rank 1 one step ahead: its weights, momentum and counters move on.
            let t = try trainedReplica(job, data: data, ahead: comm.rank == 1)
            let first = try agreeReplicaState(t, communicator: comm)
            let second = try agreeReplicaState(t, communicator: comm)
            return (first, second, t.model.parameters.array)
        }
        let values = try results.map { try $0.get() }
        let params = try TrainingLoop(job: job, data: data).trainer.model.parameters.count
        let stateBytes = 2 * params * 4  // weights and the momentum slot, fp32
        for (rank, (a, again, weights)) in values.enumerated() {
            #expect(a.source == 1, "rank \(rank): \(a)")
            #expect(a.bytesPerReceiver == stateBytes, "rank \(rank): \(a.bytesPerReceiver) bytes, expected \(stateBytes)")
            #expect(a.bytesCopied == 2 * stateBytes, "rank \(rank): two receivers")
            #expect(a.copySeconds > 0 && a.copySeconds < 60, "rank \(rank): copy took \(a.copySeconds) s")
            let rate = a.copyGigabytesPerSecond
            #expect(rate > 0 && rate.isFinite, "rank \(rank): \(rate) GB/s")
            #expect(abs(rate - Double(stateBytes) / a.copySeconds / 1e9) <= 1e-9 * rate)
            #expect(again.source == nil && again.copySeconds == 0 && again.copyGigabytesPerSecond == 0)
            #expect(weights == values[1].2, "rank \(rank) holds rank 1's weights")
        }
    }

    /// A joiner has no optimizer slots yet: it receives the source's straight into its optimizer (allocated for
    /// the copy), with its update count, and takes exactly the weights and the momentum.
    @Test func aJoinerWithoutSlotsReceivesThemInPlace() throws {
        let job = smallJob(steps: 3, layers: [16, 64, 5])
        let data = try job.loadData()
        let comms = try Communicator.local(size: 3)
        let results = runRanks(comms) { comm in
            let loop = try TrainingLoop(job: job, data: data)
            if comm.rank != 2 { try loop.run() }  // rank 2: a restarted worker, step 0, no slots
            let t = loop.trainer
            let before = t.optimizer.state()
            let a = try agreeReplicaState(t, communicator: comm)
            return (a, before, t.optimizer.state(), t.model.parameters.array, t.step)
        }
        let values = try results.map { try $0.get() }
        let params = values[0].3.count
        #expect(values[2].1.slots.isEmpty && values[2].1.step == 0, "the joiner starts without slots")
        for (rank, (a, _, state, weights, step)) in values.enumerated() {
            #expect(a.source == 0 && a.bytesPerReceiver == 2 * params * 4 && a.copySeconds > 0, "rank \(rank): \(a)")
            #expect(state == values[0].1, "rank \(rank) holds rank 0's optimizer state")
            #expect(weights == values[0].3 && step == 3, "rank \(rank)")
        }
    }

    /// The recovery record carries the copy's time and rate as JSON, and a record without them still reads.
    @Test func theRecoveryRecordCarriesTheCopy() throws {
        let report = RecoveryReport(
            rank: 2, worldSize: 3, membership: 4, failedAtNanoseconds: 1, agreedAtNanoseconds: 2,
            stepDoneAtNanoseconds: 3, stepAtFailure: 9, agreedStep: 10, stepsBefore: [10, 10, 0], bytesCopied: 800,
            source: 0, copySeconds: 0.002, copyGigabytesPerSecond: 0.0002)
        let data = try JSONEncoder().encode(report)
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["copySeconds"] as? Double == 0.002, "\(object)")
        #expect(object["copyGigabytesPerSecond"] as? Double == 0.0002, "\(object)")
        #expect(try JSONDecoder().decode(RecoveryReport.self, from: data) == report)
        object["copySeconds"] = nil
        object["copyGigabytesPerSecond"] = nil
        let old = try JSONDecoder().decode(RecoveryReport.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(old.copySeconds == nil && old.copyGigabytesPerSecond == nil && old.bytesCopied == 800)
    }
}
