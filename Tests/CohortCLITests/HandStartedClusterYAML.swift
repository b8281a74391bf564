import Foundation

/// The cluster file of the tests that hand-start a coordinator and two local workers (coordinator loss, standby): a
/// small synthetic job with 0.2 s heartbeats, so a silent coordinator is found within `deadline` seconds. `standby`
/// `tail` (checkpoints) and `parallelism` are written in as given; `token` names a token file.
func handStartedClusterYAML(
    dir: URL, steps: Int, deadline: Double, token: String?, standbyPort: Int? = nil, tail: String = "",
    parallelism: String = "{data_parallel: 2}", heartbeat: Double = 0.2
) -> String {
    let standby = standbyPort.map { ", standby: {host: 127.0.0.1, port: \($0)}" } ?? ""
    let security = token.map { "  security: {token_file: \($0)}\n" } ?? ""
    return """
        cluster:
          coordinator: {host: 127.0.0.1, port: 5555\(standby)}
          interface: 127.0.0.1
        \(security)hosts:
          - {address: 127.0.0.1, workers: 2}
        job:
          model: {layers: [16, 24, 4], activation: relu, init: he_normal}
          optimizer: {name: momentum, lr: 0.05, momentum: 0.9}
          data: {dataset: synthetic, max_train_examples: 512, max_test_examples: 128}
          batch_size: 32
          steps: \(steps)
          seed: 7
        parallelism: \(parallelism)
        timeouts: {heartbeat_interval_s: \(heartbeat), peer_deadline_s: \(deadline), rendezvous_timeout_s: 20}
        output: {metrics_file: \(dir.path)/metrics.jsonl}
        \(tail)
        """
}
