import Config
import Foundation
import Testing
import Tune

@Suite struct StudyFileTests {
    @Test func recordsRoundTrip() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = sampleSpec()
        let path = dir + "/study.jsonl"
        let run = TrialRun(trial: 3, rung: 1, budget: 3)
        let config: TrialConfig = [
            "optimizer.lr": .double(0.0123), "batch_size": .int(128), "model.layers": .list([.int(784), .int(64), .int(10)]),
            "model.activation": .string("relu"),
        ]
        var written = [
            StudyRecord(event: "start", run: run, config: config),
            StudyRecord(event: "result", run: run, config: config, metric: 0.875, seconds: 1.5),
            StudyRecord(event: "result", run: TrialRun(trial: 4, rung: 0, budget: 1), config: config, error: "exited 1"),
        ]
        for i in written.indices { written[i].at = 1_780_000_000.25 + Double(i) }
        do {
            let file = try StudyFile(path: path, spec: spec)
            for r in written { try file.append(r) }
        }
        let again = try StudyFile(path: path, spec: spec)
        #expect(again.records.first?.spec == spec)
        #expect(Array(again.records.dropFirst()) == written)
        #expect(!again.droppedTruncatedLine)
        #expect(again.unfinished.isEmpty)
    }

    /// A tuner killed mid-write leaves a last line without its newline: it is dropped (and cut off the file), and
    /// the run it belonged to has a start and no result, so it runs again.
    @Test func truncatedLastLineIsDroppedAndItsRunReRuns() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = sampleSpec()
        let path = dir + "/study.jsonl"
        let run = TrialRun(trial: 0, rung: 0, budget: 1)
        do {
            let file = try StudyFile(path: path, spec: spec)
            try file.append(StudyRecord(event: "start", run: run, config: [:]))
        }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"event\":\"result\",\"trial\":0,\"rung\":0,\"bud".utf8))
        try handle.close()
        let file = try StudyFile(path: path, spec: spec)
        #expect(file.droppedTruncatedLine)
        #expect(file.results.isEmpty)
        #expect(file.unfinished == [run])
        try file.append(StudyRecord(event: "result", run: run, config: [:], metric: 0.5, seconds: 1))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 3)
        #expect(try StudyFile(path: path, spec: spec).results.count == 1)
    }

    @Test func anotherSpecIsRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/study.jsonl"
        _ = try StudyFile(path: path, spec: sampleSpec())
        var other = sampleSpec()
        other.seed = 8
        #expect(throws: StudyFileError.self) { try StudyFile(path: path, spec: other) }
    }

    @Test func corruptMiddleLineNamesItsLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/study.jsonl"
        _ = try StudyFile(path: path, spec: sampleSpec())
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("garbage\n{\"event\":\"start\",\"trial\":0,\"rung\":0,\"budget\":1}\n".utf8))
        try handle.close()
        do {
            _ = try StudyFile(path: path, spec: sampleSpec())
            Issue.record("a corrupt line was accepted")
        } catch let e as StudyFileError {
            #expect(e.description == "\(path):2: not a study record")
        }
    }

    /// Stop a study after k results (as a kill would), leave a started run without result and a truncated line,
    /// resume: the final set of (trial, rung, config, metric) equals an uninterrupted study's with the same seed.
    @Test(arguments: [1, 4, 8, 12]) func killAndResumeGivesTheSameTrials(stopAfter: Int) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = sampleSpec(trials: 12)
        let metric: @Sendable (TrialRun, TrialConfig) -> Double = { run, config in
            let lr = config["optimizer.lr"]?.number ?? 0
            return 1 - abs(log(lr) - log(0.05)) / Double(run.budget)
        }
        let whole = try StudyFile(path: dir + "/whole.jsonl", spec: spec)
        #expect(try StudyRunner(spec: spec, file: whole, launcher: SyntheticLauncher(metric: metric), slots: 1).run())

        let path = dir + "/killed.jsonl"
        do {
            let file = try StudyFile(path: path, spec: spec)
            let runner = StudyRunner(spec: spec, file: file, launcher: SyntheticLauncher(metric: metric), slots: 1)
            runner.stopAfterResults = stopAfter
            #expect(try runner.run() == false)
        }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"event\":\"res".utf8))
        try handle.close()
        let resumed = try StudyFile(path: path, spec: spec)
        #expect(resumed.droppedTruncatedLine)
        let launcher = SyntheticLauncher(metric: metric)
        #expect(try StudyRunner(spec: spec, file: resumed, launcher: launcher, slots: 1).run())
        #expect(resultSet(resumed) == resultSet(whole))
        #expect(resumed.results.count == whole.results.count)
        #expect(launcher.runs.count == whole.results.count - stopAfter)
    }

    /// With several slots (runs finishing in any order), a resumed random search still runs every trial once.
    @Test func parallelRandomSearchResumesWithoutLossOrRepeat() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = sampleSpec(scheduler: .random, trials: 20)
        let metric: @Sendable (TrialRun, TrialConfig) -> Double = { run, _ in Double(run.trial) }
        let path = dir + "/study.jsonl"
        do {
            let file = try StudyFile(path: path, spec: spec)
            let runner = StudyRunner(spec: spec, file: file, launcher: SyntheticLauncher(metric: metric), slots: 4)
            runner.stopAfterResults = 7
            _ = try runner.run()
        }
        let file = try StudyFile(path: path, spec: spec)
        #expect(try StudyRunner(spec: spec, file: file, launcher: SyntheticLauncher(metric: metric), slots: 4).run())
        let trials = file.results.compactMap(\.trial)
        #expect(trials.count == 20)
        #expect(Set(trials) == Set(0..<20))
    }
}
