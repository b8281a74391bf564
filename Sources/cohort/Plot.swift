import ArgumentParser
import Foundation
import Logging
import Runtime

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "PNG plots of a run: loss and accuracy over steps and wall time, samples/s per rank, time split per rank.",
        discussion:
            "Reads the coordinator's metrics file (output.metrics_file) and draws with matplotlib through scripts/plot_run.py (installed with pip when missing). `launch` does the same into output.plot_directory at the end of a run."
    )

    @Argument(help: ArgumentHelp("A run directory holding metrics.jsonl, or a metrics file.", valueName: "run-dir|metrics.jsonl"))
    var source: String

    @Option(help: "Where the PNGs go (default: a plots folder beside the metrics file).")
    var out: String?

    func run() throws {
        let metrics = try Self.metricsFile(source)
        let directory = out ?? ((metrics as NSString).deletingLastPathComponent as NSString).appendingPathComponent("plots")
        let pngs = try RunPlots.write(metrics: metrics, to: directory)
        for p in pngs { print(p) }
    }

    /// `path` itself when it is a file; `path/metrics.jsonl` when it is a folder.
    static func metricsFile(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CohortFailure("\(path): no such file or directory")
        }
        guard isDirectory.boolValue else { return path }
        let inside = (path as NSString).appendingPathComponent("metrics.jsonl")
        guard FileManager.default.fileExists(atPath: inside) else {
            throw CohortFailure("\(path): no metrics.jsonl in this folder (name the metrics file itself)")
        }
        return inside
    }
}

/// scripts/plot_run.py over one metrics file.
enum RunPlots {
    /// Draws the plots into `directory`; returns the PNGs written, or throws one line saying why none were.
    static func write(metrics: String, to directory: String) throws -> [String] {
        guard let script = script(named: "plot_run.py") else {
            throw CohortFailure("scripts/plot_run.py not found beside this binary or in the working directory")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, metrics, directory]
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw CohortFailure("cannot run python3: \(error.localizedDescription)") }
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaint = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let last = complaint.split(separator: "\n").last.map(String.init) ?? "status \(p.terminationStatus)"
            throw CohortFailure("plotting \(metrics) failed: \(last)")
        }
        return printed.split(separator: "\n").map(String.init)
    }

    /// scripts/NAME in the working directory or in a parent of this binary (.build/release/cohort).
    static func script(named name: String) -> String? {
        let fm = FileManager.default
        var candidates = [fm.currentDirectoryPath]
        var dir = RankLauncher.executable().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.map { ($0 as NSString).appendingPathComponent("scripts/\(name)") }.first {
            fm.fileExists(atPath: $0)
        }
    }

    /// At the end of `launch`: the plots into `output.plot_directory`, told as a notice; a plot that cannot be
    /// made is a warning, never a failure of the run that trained.
    static func afterRun(metrics: String?, directory: String?) {
        guard let metrics, let directory else { return }
        let logger = Logger(label: "cohort")
        do {
            let pngs = try write(metrics: metrics, to: directory)
            logger.notice("plots: \(pngs.count) PNGs in \(directory)")
        } catch {
            logger.warning("warning: no plots: \(error)")
        }
    }
}
