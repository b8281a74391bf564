import CohortTestSupport
import Foundation
import Testing

/// What one run of the built `cohort` binary did.
typealias CLIResult = ProcessRunner.Result

/// Runs `cohort ARGS` to completion under a hard deadline (see `ProcessRunner`).
func cohort(_ arguments: [String], timeout: Double = 30, environment: [String: String]? = nil) throws -> CLIResult {
    try ProcessRunner.run(requireCohortBinary().path, arguments, timeout: timeout, environment: environment)
}

/// A job token for workers started by hand in tests (what `cohort launch` puts in their environment).
let testJobToken = String(repeating: "0123456789abcdef", count: 4)

/// A fresh scratch directory (the caller removes it).
func scratchDirectory(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("cohort-cli-\(label)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A small cluster on 127.0.0.1 with synthetic data (a few hundred examples, so a launch takes about a second).
/// A big `steps` makes a job that runs until interrupted. `security` is a flow mapping for `cluster.security`.
func smallClusterYAML(workers: Int, steps: Int = 20, security: String? = nil, dir: URL) -> String {
    let securityLine = security.map { "  security: \($0)\n" } ?? ""
    return """
        cluster:
          name: cli-test
          coordinator: {host: 127.0.0.1, port: 5555}
          data_ports: 5600
          interface: 127.0.0.1
        \(securityLine)hosts:
          - address: 127.0.0.1
            workers: \(workers)
        job:
          model: {layers: [16, 24, 4], activation: relu, init: he_normal}
          optimizer: {name: momentum, lr: 0.05, momentum: 0.9}
          data: {dataset: synthetic, max_train_examples: 512, max_test_examples: 128}
          batch_size: \(16 * workers)
          steps: \(steps)
          seed: 7
        parallelism: {data_parallel: \(workers)}
        timeouts: {heartbeat_interval_s: 0.2, peer_deadline_s: 15, rendezvous_timeout_s: 20}
        output: {metrics_file: \(dir.path)/metrics.jsonl}

        """
}

/// The last line of `text` that parses as a JSON object.
func lastJSONObject(_ text: String) -> [String: Any]? {
    for line in text.split(separator: "\n").reversed() where line.hasPrefix("{") {
        if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { return o }
    }
    return nil
}

/// The 1-based number of the first line of `text` that contains `marker`.
func lineNumber(of marker: String, in text: String) -> Int? {
    text.components(separatedBy: "\n").firstIndex { $0.contains(marker) }.map { $0 + 1 }
}

/// Direct children of `pid` (Linux /proc).
func childPids(of pid: Int32) -> [Int32] {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
    return text.split(separator: " ").compactMap { Int32($0) }
}

/// Whether `pid` is a live process; a zombie (exited, not yet reaped) counts as gone.
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    guard let close = stat.lastIndex(of: ")"), stat.distance(from: close, to: stat.endIndex) > 2 else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}
