// Test helpers: ranks as threads, integer-valued test data, locating and running the built binary.
import Collectives
import Foundation
import Transport

/// Runs `body` once per communicator, each on its own thread (blocking calls never touch the Swift concurrency
/// pool), and returns each rank's result. Waits at most `timeout` seconds; a rank still running then is reported
/// as `RankThreadTimeout` instead of hanging the test.
public func runRanks<T: Sendable>(
    _ comms: [Communicator], timeout: Double = 60,
    _ body: @escaping @Sendable (Communicator) throws -> T
) -> [Result<T, any Error>] {
    let box = ResultBox<T>(count: comms.count)
    let group = DispatchGroup()
    for (i, c) in comms.enumerated() {
        group.enter()
        let t = Thread {
            let r: Result<T, any Error>
            do { r = .success(try body(c)) } catch { r = .failure(error) }
            box.set(i, r)
            group.leave()
        }
        t.stackSize = 4 << 20
        t.start()
    }
    _ = group.wait(timeout: .now() + timeout)
    return box.results()
}

public struct RankThreadTimeout: Error, CustomStringConvertible {
    public let rank: Int
    public var description: String { "rank \(rank) did not finish in time" }
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<T, any Error>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, any Error>) {
        lock.lock()
        slots[i] = r
        lock.unlock()
    }
    func results() -> [Result<T, any Error>] {
        lock.lock()
        defer { lock.unlock() }
        return slots.enumerated().map { $1 ?? .failure(RankThreadTimeout(rank: $0)) }
    }
}

/// Integer-valued contribution of `rank` at index `i`: sums over up to a few thousand ranks stay exact in fp32.
@inline(__always)
public func testValue(rank: Int, index: Int) -> Float {
    Float((index &* 7 &+ rank &* 13) % 61) - 30
}

public func testInput(rank: Int, count: Int) -> [Float] {
    (0..<count).map { testValue(rank: rank, index: $0) }
}

/// The exact all-reduce sum over `size` ranks of `testInput`.
public func expectedSum(size: Int, count: Int) -> [Float] {
    (0..<count).map { i in (0..<size).reduce(Float(0)) { $0 + testValue(rank: $1, index: i) } }
}

/// The package root (where Package.swift is), found from this source file's location.
public func packageRoot() -> URL {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}

/// The built release `cohort` binary (CI builds it before the tests), or nil if it isn't there.
public func cohortBinary() -> URL? {
    let url = packageRoot().appendingPathComponent(".build/release/cohort")
    return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
}

/// A child process whose output is collected; killed if still running at `kill()` or deinit.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let out = Pipe()
    private let lock = NSLock()
    private var collected = Data()

    /// `environment` is added to this process's.
    public init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = out
        process.standardError = out
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            self.lock.lock()
            self.collected.append(d)
            self.lock.unlock()
        }
        try process.run()
    }

    deinit { kill() }

    public var output: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: collected, as: UTF8.self)
    }

    /// Waits for exit up to `timeout` seconds; returns the exit status, or nil (and kills it) on timeout.
    public func wait(timeout: Double) -> Int32? {
        let end = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < end { usleep(10_000) }
        if process.isRunning {
            kill()
            return nil
        }
        process.waitUntilExit()
        usleep(20_000)
        out.fileHandleForReading.readabilityHandler = nil
        let rest = out.fileHandleForReading.readDataToEndOfFile()
        lock.lock()
        collected.append(rest)
        lock.unlock()
        return process.terminationStatus
    }

    public func kill() {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Starts `ranks` processes of the built binary's hidden `bench rank` subcommand over tcp://127.0.0.1 (each
/// binds port 0 and registers at a rendezvous server run here), and waits for them. Returns each rank's exit
/// status (nil = killed at the timeout) and output, and how long it took.
public func runRankProcesses(
    mode: String, ranks: Int, extra: [String] = [], timeout: Double = 60, modeOverride: [Int: String] = [:]
)
    throws -> (results: [(status: Int32?, output: String)], seconds: Double)
{
    let binary = try requireCohortBinary()
    let context = try Context()
    let server = try Rendezvous.Server(context: context)
    let start = Date()
    let children = try (0..<ranks).map { r in
        try ChildProcess(
            binary,
            [
                "bench", "rank", "--mode", modeOverride[r] ?? mode, "--rank", "\(r)", "--ranks", "\(ranks)",
                "--rendezvous", server.endpoint, "--bind", "tcp://127.0.0.1:0",
            ] + extra)
    }
    _ = try server.collect(size: ranks, deadline: .after(seconds: timeout))
    let end = start.addingTimeInterval(timeout)
    let results = children.map { c in (status: c.wait(timeout: max(0.1, end.timeIntervalSinceNow)), output: c.output) }
    return (results, Date().timeIntervalSince(start))
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Runs blocking `body` (processes to wait for, ranks as threads) on a thread of its own and suspends until it
/// returns, so the test does not hold one of Swift Testing's few worker threads meanwhile: on 2 cores, two long
/// blocking tests starved every other test for about 50 s of each run, close to their one-minute limits.
/// Expectations belong outside `body` (they are recorded against the test's task).
public func onOwnThread<T>(_ body: @escaping () throws -> T) async throws -> T {
    let work = UncheckedBox(body)
    let result: UncheckedBox<Result<T, any Error>> = await withCheckedContinuation { continuation in
        let thread = Thread {
            let r: Result<T, any Error>
            do { r = .success(try work.value()) } catch { r = .failure(error) }
            continuation.resume(returning: UncheckedBox(r))
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
    return try result.value.get()
}

/// Carries a value the compiler cannot prove Sendable across the one hand-off of `onOwnThread`.
public struct UncheckedBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
