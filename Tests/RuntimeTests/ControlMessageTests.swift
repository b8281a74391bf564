import Config
import Foundation
import Runtime
import Testing
import Training
import Transport

/// The control plane's encoding of numbers a diverging run produces.
@Suite struct ControlMessageTests {
    /// A NaN loss used to make `encoded()` trap (`try!` on EncodingError.invalidValue) and kill every worker.
    @Test func nonFiniteFiguresRoundTrip() throws {
        let report = ProgressReport(
            rank: 1, epoch: 0, step: 7, stepsPerEpoch: 10, totalSteps: 100, steps: 1, samples: 64,
            loss: .nan, accuracy: .infinity, seconds: -.infinity, computeSeconds: 0.5,
            allReduceSeconds: 0, waitSeconds: 0)
        let bytes = ControlMessage.progress(report).encoded()
        let decoded = try bytes.withUnsafeBytes { try ControlMessage.decode($0, from: "test") }
        guard case .progress(let back) = decoded else {
            Issue.record("decoded \(decoded)")
            return
        }
        #expect(back.loss.isNaN && back.accuracy == .infinity && back.seconds == -.infinity)
        #expect(back.step == 7 && back.computeSeconds == 0.5)
    }

    /// Training does not import the transport, so `Assignment` writes the first membership epoch as a literal 0:
    /// it must stay the data plane's `WireHeader.firstEpoch`.
    @Test func anAssignmentStartsInTheFirstMembershipEpoch() {
        let a = Assignment(
            rank: 0, worldSize: 1, peers: [], hosts: ["127.0.0.1"], layout: RankLayout(dataParallel: 1), job: JobSpec(),
            parallelism: ParallelismSpec(), timeouts: TimeoutSpec(), checkpoint: nil, run: RunOptions())
        #expect(a.membershipEpoch == WireHeader.firstEpoch)
    }
}
