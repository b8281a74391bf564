import Foundation
import Runtime
import Testing
import Training

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
}
