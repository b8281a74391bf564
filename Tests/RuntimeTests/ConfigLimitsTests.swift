import Config
import Foundation
import Runtime
import Testing

/// The hardening issue's reproductions: values that used to pass `validate` and crash later, and input that
/// crashed `validate` itself. Each is now one error naming the key and line.
@Suite struct ConfigLimitsTests {
    typealias BadCase = ClusterConfigTests.BadCase

    static let cases: [BadCase] = [
        BadCase(
            old: "  seed: 1\n", new: "  seed: 1\n  optimizer:\n    momentum: .nan\n", keyPath: "job.optimizer.momentum",
            message: "must be a finite number, got .nan", lineMarker: "momentum: .nan"),
        BadCase(
            old: "  seed: 1\n", new: "  seed: 1\n  optimizer:\n    lr: -.inf\n", keyPath: "job.optimizer.lr",
            message: "must be a finite number", lineMarker: "lr: -.inf"),
        BadCase(
            old: "  peer_deadline_s: 5", new: "  peer_deadline_s: 99999999999999999999", keyPath: "timeouts.peer_deadline_s",
            message: "up to 86400 (one day)", lineMarker: "peer_deadline_s: 9999"),
        BadCase(
            old: "  heartbeat_interval_s: 0.5", new: "  heartbeat_interval_s: 1e400", keyPath: "timeouts.heartbeat_interval_s",
            message: "out of the range of a 64-bit float", lineMarker: "heartbeat_interval_s: 1e400"),
        BadCase(
            old:
                "  data_parallel: 2        # replicas; data_parallel × pipeline_stages must equal the workers of all hosts\n  pipeline_stages: 1",
            new: "  data_parallel: 4611686018427387904\n  pipeline_stages: 2", keyPath: "parallelism.data_parallel",
            message: "overflows", lineMarker: "data_parallel: 4611686018427387904"),
        BadCase(
            old: "    workers: 2", new: "    workers: 9223372036854775807", keyPath: "hosts[0].workers",
            message: "must be at most 4096", lineMarker: "workers: 9223372036854775807"),
        BadCase(
            old: "  - address: 127.0.0.1", new: "  - address: \"-oProxyCommand=touch /tmp/x\"", keyPath: "hosts[0].address",
            message: "is not a host name", lineMarker: "-oProxyCommand"),
        BadCase(
            old: "    # ssh_user: cohort", new: "    ssh_user: \"-oX=y\"", keyPath: "hosts[0].ssh_user",
            message: "is not a user name", lineMarker: "ssh_user: \"-oX"),
    ]

    @Test(arguments: cases) func outOfRangeValueIsAnErrorWithKeyAndLine(_ c: BadCase) {
        ClusterConfigTests().expectError(c)
    }

    /// 200,000 nested `[` used to overflow the parser's stack (exit 139).
    @Test func deepNestingIsAnErrorNotACrash() {
        let text = ClusterConfigTests.exampleText + "extra: " + String(repeating: "[", count: 200_000) + "\n"
        do {
            _ = try ClusterConfig.parse(text, file: "cluster.yaml")
            Issue.record("200,000 nested brackets parsed")
        } catch {
            #expect(error.message.contains("nested more than 64 levels"), "\(error)")
            #expect(error.line == ClusterConfigTests.exampleText.components(separatedBy: "\n").count)
        }
    }

    @Test func quotedBracketsAndApostrophesDoNotCount() throws {
        let text = ClusterConfigTests.mutated(
            "  name: local", "  name: \"" + String(repeating: "[", count: 100) + "\"  # don't [[[")
        let config = try ClusterConfig.parse(text, file: "cluster.yaml")
        #expect(config.cluster.name.count == 100)
    }

    @Test func oversizedFileIsAnError() {
        let text = ClusterConfigTests.exampleText + "#" + String(repeating: "x", count: 1 << 20) + "\n"
        do {
            _ = try ClusterConfig.parse(text, file: "cluster.yaml")
            Issue.record("a 1 MiB file parsed")
        } catch {
            #expect(error.message.contains("more than a config file may hold"), "\(error)")
        }
    }
}
