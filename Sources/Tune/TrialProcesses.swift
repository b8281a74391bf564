import Config
import Foundation

/// Where a trial can run: one worker slot of cluster.yaml's hosts (host i's `workers` slots).
public struct TrialSlot: Sendable, Equatable {
    public var address: String
    public var sshUser: String?
    public var index: Int

    public init(address: String, sshUser: String? = nil, index: Int) {
        self.address = address
        self.sshUser = sshUser
        self.index = index
    }

    /// One slot per worker of every host, host by host (the order `cohort launch` gives ranks).
    public static func all(_ config: ClusterConfig) -> [TrialSlot] {
        config.hosts.flatMap { h in (0..<h.workers).map { TrialSlot(address: h.address, sshUser: h.sshUser, index: $0) } }
    }

    public var isLocal: Bool {
        address == "localhost" || address.hasPrefix("127.") || address == "::1" || address == ProcessInfo.processInfo.hostName
    }
}

/// Runs each trial as its own `cohort train --json` process on its slot: a child process here, or
/// `ssh HOST cohort train` with the job file on standard input for other hosts (as `cohort launch` starts remote
/// workers). The metric is the `test_accuracy` of the done line.
public final class TrialProcesses: TrialLauncher, @unchecked Sendable {
    public let executable: String
    public let slots: [TrialSlot]
    public let jobFile: TrialJobFile
    public let directory: String
    public let threads: Int
    /// ASHA: every run of a trial lays its learning-rate schedule over the largest budget, so that a run promoted
    /// and continued follows the same schedule as one trained straight to that budget, and each rung's metric is
    /// that run's state at the rung's budget (a schedule laid over each rung's own budget would warm-restart it).
    public var scheduleHorizon: Int?
    /// What a run is judged by: a key of the done line (test metrics) or of the last epoch line (validation ones).
    public var metric: TuneSpec.Metric = .testAccuracy
    /// The data folder local trials read instead of the job's (the study's decompressed copy; remote slots keep
    /// the job's own path).
    public var localDataPath: String?
    private var processes: [Int: Process] = [:]
    private var cancelled = false
    private let lock = NSLock()

    public init(executable: String, slots: [TrialSlot], jobFile: TrialJobFile, directory: String, threads: Int) {
        self.executable = executable
        self.slots = slots
        self.jobFile = jobFile
        self.directory = directory
        self.threads = threads
    }

    public func run(_ run: TrialRun, config: TrialConfig, slot: Int) -> TrialOutcome {
        let start = Date()
        do {
            let files = try writeJob(run, config: config, slot: slot, budget: run.budget)
            let state = try stateArguments(run, slot: slots[slot])
            let (status, stdout) = try execute(
                slots[slot], jobPath: files.jobPath, yaml: files.yaml, logPath: files.logPath, extraArguments: state)
            let seconds = Date().timeIntervalSince(start)
            guard status == 0, let done = Self.lastLine(event: "done", in: stdout),
                let value = metricValue(done: done, stdout: stdout)
            else {
                return TrialOutcome(
                    metric: nil, seconds: seconds, error: "cohort train exited \(status) (see \(files.logPath))")
            }
            let resumed = (done["resumed_from_step"] as? NSNumber)?.intValue
            return TrialOutcome(metric: value, seconds: seconds, resumedFromStep: resumed)
        } catch {
            return TrialOutcome(metric: nil, seconds: Date().timeIntervalSince(start), error: "\(error)")
        }
    }

    /// ASHA's stopping type: one `cohort train` to the largest budget, its epoch lines read as they come; at each
    /// run's budget its `metric` goes to `reached`, and the process is killed when the answer is nil.
    /// A run that resumes (rung > 0, after a killed study) continues from the trial's newest checkpoint.
    public func runOn(_ run: TrialRun, config: TrialConfig, slot: Int, reached: (TrialRun, TrialOutcome) -> TrialRun?) {
        var current = run
        var start = Date()
        var passed = false
        do {
            let budget = max(run.budget, scheduleHorizon ?? run.budget)
            let files = try writeJob(run, config: config, slot: slot, budget: budget)
            let (status, _) = try execute(
                slots[slot], jobPath: files.jobPath, yaml: files.yaml, logPath: files.logPath,
                extraArguments: try stateArguments(run, slot: slots[slot])
            ) { line in
                guard let epoch = Self.epochLine(line, metric: metric), epoch.epoch >= current.budget else { return false }
                let outcome = TrialOutcome(metric: epoch.value, seconds: Date().timeIntervalSince(start))
                guard let next = reached(current, outcome) else {
                    passed = true
                    return epoch.epoch < budget
                }
                (current, start) = (next, Date())
                return false
            }
            if !passed {
                _ = reached(
                    current,
                    TrialOutcome(
                        metric: nil, seconds: Date().timeIntervalSince(start),
                        error: "cohort train exited \(status) before epoch \(current.budget) (see \(files.logPath))"))
            }
        } catch {
            if !passed {
                _ = reached(current, TrialOutcome(metric: nil, seconds: Date().timeIntervalSince(start), error: "\(error)"))
            }
        }
    }

    /// The run's job file (`trial-NNNN-rK.yaml`, trained to `budget`) and where its log goes.
    private func writeJob(_ run: TrialRun, config: TrialConfig, slot: Int, budget: Int) throws
        -> (yaml: String, jobPath: String, logPath: String)
    {
        let yaml = try jobFile.yaml(config: config, budget: budget, dataPath: slots[slot].isLocal ? localDataPath : nil)
        let name = (directory as NSString).appendingPathComponent(String(format: "trial-%04d-r%d", run.trial, run.rung))
        try yaml.write(toFile: name + ".yaml", atomically: true, encoding: .utf8)
        return (yaml, name + ".yaml", name + ".log")
    }

    /// An `{"event":"epoch",…}` line's epoch and `metric`.
    static func epochLine(_ line: Data, metric: TuneSpec.Metric) -> (epoch: Int, value: Double?)? {
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
            object["event"] as? String == "epoch", let epoch = (object["epoch"] as? NSNumber)?.intValue
        else { return nil }
        return (epoch, (object[metric.rawValue] as? NSNumber)?.doubleValue)
    }

    /// A finished run's metric: the done line's test metric, or the last epoch line's validation one.
    func metricValue(done: [String: Any], stdout: String) -> Double? {
        let line = metric.needsValidationSet ? Self.lastLine(event: "epoch", in: stdout) : done
        return (line?[metric.rawValue] as? NSNumber)?.doubleValue
    }

    /// ASHA promotes a trial by training it further, as Ray Tune resumes a paused trial: each local run saves its
    /// state in the trial's folder, and the next rung's run continues from it (from budget b_k to b_k+1, not from
    /// zero). Rung 0 starts afresh. A trial whose state is on another host (an ssh slot) retrains from zero.
    func stateArguments(_ run: TrialRun, slot: TrialSlot) throws -> [String] {
        guard slot.isLocal else { return [] }
        let dir = (directory as NSString).appendingPathComponent(String(format: "trial-%04d.state", run.trial))
        if run.rung == 0, FileManager.default.fileExists(atPath: dir) { try FileManager.default.removeItem(atPath: dir) }
        return ["--checkpoint-dir", dir] + (run.rung > 0 ? ["--resume"] : [])
    }

    /// The last `{"event":EVENT,…}` line.
    static func lastLine(event: String, in stdout: String) -> [String: Any]? {
        for line in stdout.split(separator: "\n").reversed() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["event"] as? String == event
            else { continue }
            return object
        }
        return nil
    }

    /// Runs the trial process; `onLine` sees each line of its standard output as it comes and returns true to stop
    /// the process (SIGKILL; nothing more is read).
    private func execute(
        _ slot: TrialSlot, jobPath: String, yaml: String, logPath: String, extraArguments: [String],
        onLine: (Data) -> Bool = { _ in false }
    ) throws -> (Int32, String) {
        let p = Process()
        let horizon = scheduleHorizon.map { ["--schedule-\(jobFile.unit == .steps ? "steps" : "epochs")", "\($0)"] } ?? []
        let trainArgs = ["train", "--json", "--quiet", "--threads", "\(threads)"] + horizon + ["--config"]
        if slot.isLocal {
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = trainArgs + [jobPath] + extraArguments
            // `cohort train` exits with this process, even when it is killed outright.
            p.environment = ProcessInfo.processInfo.environment.merging(["COHORT_LAUNCHER_PID": "\(getpid())"]) { $1 }
        } else {
            let remote =
                "f=$(mktemp) && cat > \"$f\" && cohort " + trainArgs.joined(separator: " ")
                + " \"$f\"; s=$?; rm -f \"$f\"; exit $s"
            p.executableURL = URL(fileURLWithPath: "/usr/bin/ssh")
            p.arguments = ["-o", "BatchMode=yes", "--", (slot.sshUser.map { "\($0)@" } ?? "") + slot.address, remote]
        }
        let out = Pipe()
        let input = Pipe()
        p.standardOutput = out
        p.standardInput = input
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: logPath)
        lock.lock()
        if cancelled {
            lock.unlock()
            return (-1, "")
        }
        try p.run()
        processes[Int(p.processIdentifier)] = p
        lock.unlock()
        input.fileHandleForWriting.write(Data((slot.isLocal ? "" : yaml).utf8))
        try? input.fileHandleForWriting.close()
        let data = Self.readLines(out.fileHandleForReading, process: p, onLine: onLine)
        p.waitUntilExit()
        lock.lock()
        processes[Int(p.processIdentifier)] = nil
        lock.unlock()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Reads `handle` to its end, line by line; returns everything read. A line longer than 1 MiB is not a line
    /// the tuner wants: it is dropped unseen.
    static func readLines(_ handle: FileHandle, process: Process, onLine: (Data) -> Bool) -> Data {
        var all = Data()
        var pending = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            all.append(chunk)
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[pending.startIndex..<newline]
                pending = Data(pending[(newline + 1)...])
                if onLine(Data(line)) {
                    // SIGKILL: a stopped trial is never continued, so nothing of its state is needed, and a child
                    // inherits the signal mask of the thread that starts it (swift-testing's block SIGTERM).
                    kill(process.processIdentifier, SIGKILL)
                    return all  // its children may hold the pipe open: the end of output is not waited for
                }
            }
            if pending.count > 1 << 20 { pending = Data() }
        }
        return all
    }

    /// SIGTERM, then SIGKILL after 2 s, to every trial still running; no new one starts.
    public func cancelAll() {
        lock.lock()
        cancelled = true
        let all = Array(processes.values)
        lock.unlock()
        for p in all where p.isRunning { p.terminate() }
        let end = Date().addingTimeInterval(2)
        for p in all {
            while p.isRunning && Date() < end { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
    }
}
