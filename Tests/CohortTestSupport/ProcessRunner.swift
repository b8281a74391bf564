import Foundation

/// Runs a child process to completion with a deadline (tests must never hang, SIGKILL past it), capturing stdout
/// and stderr: the one way the tests run a program and wait for it (`ChildProcess` is for ones they interact with).
public enum ProcessRunner {
    public struct Result {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var timedOut: Bool
        /// Wall-clock seconds from start to exit (or to the kill).
        public var seconds: Double

        /// stderr split in non-empty lines (a one-line error has exactly one).
        public var stderrLines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: true) }
    }

    public static func run(
        _ executable: String, _ arguments: [String], timeout: TimeInterval = 60,
        environment: [String: String]? = nil, currentDirectory: String? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-proc-\(UUID().uuidString).out")
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-proc-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        // Files, not pipes: a chatty child can never block on a full pipe while we wait for it.
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let start = Date()
        try process.run()
        let deadline = start.addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(10_000)
        }
        process.waitUntilExit()
        let end = Date()
        try? out.close()
        try? err.close()
        return Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
            timedOut: timedOut, seconds: end.timeIntervalSince(start))
    }

    /// The absolute path of a program on PATH, or nil.
    public static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}

/// The built release `cohort` binary. The tests that use it exercise exactly what a user runs, so a missing binary
/// is a failure that names the command to fix it — never a skip, which would let a broken build pass.
public func requireCohortBinary() throws -> URL {
    guard let binary = cohortBinary() else {
        throw TestFailure("\(packageRoot().path)/.build/release/cohort is missing: build it first (swift build -c release)")
    }
    return binary
}
