import ArgumentParser
import Config
import Foundation
import Runtime
import Training
import Tune

/// `cohort tune`: a hyperparameter search over the cluster's worker slots, one trial process per slot, resumable
/// from its study file.
struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Search job keys (random, grid or ASHA) with one trial per worker slot; resumable.",
        discussion:
            "The search comes from cluster.yaml's tune: section or --space FILE. The study file (JSON Lines) records every start and result; running the same command again resumes it: finished runs are kept, runs cut off re-run."
    )

    @Argument(help: "The cluster file (hosts give the worker slots; job: is the base job).")
    var config: String = "cluster.yaml"
    @Option(help: "A YAML file with the tune: section (instead of cluster.yaml's).") var space: String?
    @Option(help: "The study file (default: runs/<cluster name>/tune/study.jsonl).") var study: String?
    @Option(help: "The results CSV (default: results.csv beside the study file).") var csv: String?
    @Option(help: "Where the PNG goes (default: beside the study file).") var plotDir: String?
    @Option(help: "Slots to use at most (default: every worker of every host).") var slots: Int?
    @Flag(help: "No PNG (scripts/plot_tune.py needs python3 and matplotlib).") var noPlot = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        let cluster = try loadClusterConfig(config)
        let spec = try loadSpec(cluster)
        let studyPath = study ?? "runs/\(cluster.cluster.name)/tune/study.jsonl"
        let dir = (studyPath as NSString).deletingLastPathComponent
        let trialDir = ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent("trials")
        try FileManager.default.createDirectory(atPath: trialDir, withIntermediateDirectories: true)
        let file: StudyFile
        do { file = try StudyFile(path: studyPath, spec: spec) } catch { throw CohortFailure("\(error)") }
        var allSlots = TrialSlot.all(cluster)
        if let slots { allSlots = Array(allSlots.prefix(max(1, slots))) }
        let launcher = TrialProcesses(
            executable: Launcher.selfExecutable(), slots: allSlots,
            jobFile: TrialJobFile(base: try? TrialJobFile.jobNode(ofFile: config), unit: spec.unit),
            directory: trialDir, threads: spec.threads)
        if spec.scheduler == .asha { launcher.scheduleHorizon = spec.maxBudget }
        launcher.metric = spec.metric
        if allSlots.contains(where: \.isLocal) {
            launcher.localDataPath = TrialDataCache.prepare(cluster.job, in: dir.isEmpty ? "." : dir)
        }
        let runner = StudyRunner(spec: spec, file: file, launcher: launcher, slots: allSlots.count)
        announce(spec, file: file, slots: allSlots.count)
        let signals = SignalFlag(signals: [SIGINT, SIGTERM]) { _ in runner.stop() }
        let start = Date()
        let complete = try runner.run(observer: TuneProgress())
        signals.cancel()
        guard complete else {
            throw CohortFailure("tune: stopped; run the same command again to resume \(studyPath)")
        }
        try report(spec, file: file, studyPath: studyPath, seconds: Date().timeIntervalSince(start))
    }

    /// The spec from --space or cluster.yaml, with an omitted max_budget taken from the job's epochs or steps.
    func loadSpec(_ cluster: ClusterConfig) throws -> TuneSpec {
        do {
            return try TuneSpec.load(path: space ?? config, job: cluster.job)
        } catch {
            throw CohortFailure("\(error)")
        }
    }

    func announce(_ spec: TuneSpec, file: StudyFile, slots: Int) {
        let done = file.results.count
        var line = "tune: \(spec.scheduler.rawValue) over \(spec.keys.joined(separator: ", ")), \(slots) slot(s)"
        if spec.scheduler == .asha {
            line += ", η \(spec.eta), rungs \(spec.rungBudgets.map(String.init).joined(separator: "/")) \(spec.unit.rawValue)"
            line += " (\(spec.ashaType.rawValue) type)"
        }
        line +=
            ", judged by \(spec.metric.rawValue)"
            + (spec.metric.maximised ? "" : " (lower is better)")
        if done > 0 || !file.unfinished.isEmpty {
            line += "; resuming \(file.path): \(done) run(s) done, \(file.unfinished.count) to re-run"
            if file.droppedTruncatedLine { line += " (a truncated last line was dropped)" }
        }
        printError(line)
    }

    /// CSV, terminal table, PNG, and the done line.
    func report(_ spec: TuneSpec, file: StudyFile, studyPath: String, seconds: Double) throws {
        let report = StudyReport(spec: spec, file: file)
        let dir = (studyPath as NSString).deletingLastPathComponent
        let csvPath = csv ?? ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent("results.csv")
        do { try report.csv.write(toFile: csvPath, atomically: true, encoding: .utf8) } catch {
            throw CohortFailure("--csv: cannot write \(csvPath): \(error.localizedDescription)")
        }
        let png = ((plotDir ?? (dir.isEmpty ? "." : dir)) as NSString).appendingPathComponent("tune.png")
        let plotted = !noPlot && plotTune(csv: csvPath, png: png, metric: spec.metric.rawValue)
        let best = report.best
        if output.json {
            print(
                TuneDoneLine(
                    trials: report.trials, metric: spec.metric, bestValue: best?.metric, best: best?.config ?? [:],
                    seconds: seconds
                ).text)
        } else {
            for line in report.table() { print(line) }
            print("csv: \(csvPath)" + (plotted ? "\nplot: \(png)" : ""))
            print(
                String(
                    format: "done: %d trials in %.1f s, best %@ %.4f (trial %d)", report.trials, seconds,
                    spec.metric.rawValue.replacingOccurrences(of: "_", with: " "), best?.metric ?? .nan, best?.trial ?? -1))
        }
    }
}

/// `{"event":"done","trials":…,"best_test_accuracy":…,"best":{…job keys…},"seconds":…}`, keys in this order
/// (as the issue gives it; the values through `JSONLine`, so a missing accuracy is null). Another `tune.metric`
/// names its own key: `best_validation_accuracy`, `best_test_loss`, ….
struct TuneDoneLine {
    var trials: Int
    var metric: TuneSpec.Metric
    var bestValue: Double?
    var best: [String: TuneValue]
    var seconds: Double

    var text: String {
        let json = { (value: any Encodable) in
            (try? JSONLine.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        }
        return "{\"event\":\"done\",\"trials\":\(trials),\"best_\(metric.rawValue)\":\(json(bestValue ?? .nan)),"
            + "\"best\":\(json(best)),\"seconds\":\(json(JSONLine.Fixed(seconds, digits: 2)))}"
    }
}

/// Live progress on stderr: each start, each result with trials done and the best so far.
final class TuneProgress: StudyObserver {
    func started(_ run: TrialRun, config: TrialConfig, slot: Int) {
        let values = config.keys.sorted().map { "\($0)=\(config[$0]?.description ?? "")" }.joined(separator: " ")
        printError("tune: trial \(run.trial) rung \(run.rung) (\(run.budget)) on slot \(slot): \(values)")
    }

    func finished(_ run: TrialRun, outcome: TrialOutcome, progress: StudyProgress) {
        let metric = outcome.metric.map { String(format: "%.4f", $0) } ?? "failed (\(outcome.error ?? ""))"
        let best = progress.best.map { String(format: "best %.4f (trial %d)", $0.metric, $0.trial) } ?? "no result yet"
        printError(
            "tune: trial \(run.trial) rung \(run.rung): \(metric) in \(String(format: "%.1f", outcome.seconds)) s; "
                + "\(progress.runsDone) run(s) done, \(progress.trialsStarted)/\(progress.trials) trials started, \(best)")
    }
}

/// Runs scripts/plot_tune.py (found as bench scaling finds its script); a missing python or matplotlib is a
/// notice, not a failure.
func plotTune(csv: String, png: String, metric: String) -> Bool {
    let fm = FileManager.default
    var candidates = [fm.currentDirectoryPath]
    var dir = URL(fileURLWithPath: Launcher.selfExecutable()).deletingLastPathComponent()
    for _ in 0..<5 {
        candidates.append(dir.path)
        dir = dir.deletingLastPathComponent()
    }
    guard
        let script = candidates.map({ ($0 as NSString).appendingPathComponent("scripts/plot_tune.py") }).first(where: {
            fm.fileExists(atPath: $0)
        })
    else {
        printError("tune: scripts/plot_tune.py not found; no plot")
        return false
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", script, csv, png, metric]
    p.standardOutput = FileHandle.standardError
    do {
        try p.run()
        p.waitUntilExit()
    } catch {
        printError("tune: cannot run python3; no plot")
        return false
    }
    if p.terminationStatus != 0 { printError("tune: the plot script failed (status \(p.terminationStatus)); no plot") }
    return p.terminationStatus == 0
}
