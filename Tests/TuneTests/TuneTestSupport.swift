import Config
import Foundation
import Tune

/// A trial "trains" instantly: its metric is a fixed quality per trial times budget / max budget (monotone in
/// the budget, so ranks never change between rungs), or a function of its configuration.
final class SyntheticLauncher: TrialLauncher, @unchecked Sendable {
    let metric: @Sendable (TrialRun, TrialConfig) -> Double
    private let lock = NSLock()
    private(set) var runs: [TrialRun] = []

    init(metric: @escaping @Sendable (TrialRun, TrialConfig) -> Double) { self.metric = metric }

    func run(_ run: TrialRun, config: TrialConfig, slot: Int) -> TrialOutcome {
        lock.lock()
        runs.append(run)
        lock.unlock()
        return TrialOutcome(metric: metric(run, config), seconds: 0.001)
    }

    func cancelAll() {}
}

/// A fresh temporary directory for one test.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "cohort-tune-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A spec over one learning-rate key and one choice.
func sampleSpec(scheduler: TuneSpec.Scheduler = .asha, trials: Int = 9, eta: Int = 3, maxBudget: Int = 9) -> TuneSpec {
    var spec = TuneSpec()
    spec.scheduler = scheduler
    spec.trials = trials
    spec.eta = eta
    spec.minBudget = 1
    spec.maxBudget = maxBudget
    spec.seed = 7
    spec.space = ["optimizer.lr": .logUniform(0.001, 0.5), "batch_size": .choice([.int(64), .int(128), .int(256)])]
    return spec
}

/// The (trial, rung, config) of every result in a study file, as a set (what "the same trials" means).
func resultSet(_ file: StudyFile) -> Set<String> {
    Set(
        file.results.map { r in
            let config = (r.config ?? [:]).keys.sorted().map { "\($0)=\(r.config?[$0]?.yaml ?? "")" }.joined(separator: ",")
            return "\(r.trial ?? -1)/\(r.rung ?? -1)/\(r.budget ?? -1)/\(config)/\(r.metric ?? .nan)"
        })
}
