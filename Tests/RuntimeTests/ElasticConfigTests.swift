import Config
import Foundation
import Testing

/// `elastic:` in cluster.yaml: defaults, a round trip, and one line per mistake naming file, line and key.
@Suite struct ElasticConfigTests {
    static func text(_ elastic: String, workers: Int = 3, extra: String = "") -> String {
        """
        cluster:
          coordinator: {host: 127.0.0.1, port: 5555}
        hosts:
          - {address: 127.0.0.1, workers: \(workers)}
        job:
          data: {dataset: synthetic}
          model: {layers: [16, 8, 4]}
          batch_size: 128
        \(extra)elastic: \(elastic)
        """
    }

    @Test func absentMeansTodaysBehaviour() throws {
        let config = try ClusterConfig.parse(ClusterConfigTests.exampleText, file: "cluster.yaml")
        #expect(config.elastic == nil)
    }

    /// `compression: none` is the exact sum, as leaving the key out is, so bitwise recovery accepts it (it was read
    /// as an absent compression once, and refused).
    @Test func deterministicAcceptsNoCompressionWrittenOut() throws {
        let config = try ClusterConfig.parse(
            Self.text("{deterministic: true}", extra: "parallelism: {gradient: {compression: none}}\n"), file: "cluster.yaml")
        #expect(config.elastic?.deterministic == true)
    }

    @Test func omittedKeysTakeDefaults() throws {
        let config = try ClusterConfig.parse(Self.text("{}"), file: "cluster.yaml")
        let elastic = try #require(config.elastic)
        #expect(elastic == ElasticSpec(minWorkers: 1, maxWorkers: nil, restart: RestartPolicy(maxRestarts: 3, backoff: 1)))
        #expect(elastic.joinTimeout == 60)
        #expect(elastic.maximum(configured: config.totalWorkers) == 3)
    }

    @Test func everyKeyRoundTrips() throws {
        let source = Self.text(
            "{min_workers: 2, max_workers: 5, restart: {max_restarts: 7, backoff_s: 0.25}, join_timeout_s: 12, deterministic: false}"
        )
        let config = try ClusterConfig.parse(source, file: "cluster.yaml")
        #expect(
            config.elastic
                == ElasticSpec(
                    minWorkers: 2, maxWorkers: 5, restart: RestartPolicy(maxRestarts: 7, backoff: 0.25), joinTimeout: 12))
        let again = try ClusterConfig.parse(try config.yaml(), file: "encoded.yaml")
        #expect(again == config)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var elastic: String
        var workers: Int = 3
        var extra: String = ""
        var line: String
        var expected: String
        var testDescription: String { expected }
    }

    static let bad: [Bad] = [
        Bad(elastic: "{min_workers: 0}", line: "elastic:", expected: "elastic.min_workers: must be at least 1, got 0"),
        Bad(
            elastic: "{min_workers: 4}", line: "elastic:",
            expected: "elastic.min_workers: 4 is more than the 3 workers the hosts run"),
        Bad(
            elastic: "{max_workers: 2}", line: "elastic:",
            expected: "elastic.max_workers: 2 is fewer than the 3 workers the hosts run"),
        Bad(
            elastic: "{restart: {max_restarts: -1}}", line: "elastic:",
            expected: "elastic.restart.max_restarts: must be in 0...10000, got -1"),
        Bad(
            elastic: "{restart: {backoff_s: -2}}", line: "elastic:",
            expected: "elastic.restart.backoff_s: must be a number of seconds in 0...86400, got -2.0"),
        Bad(
            elastic: "{join_timeout_s: 0}", line: "elastic:",
            expected: "elastic.join_timeout_s: must be a positive number of seconds up to 86400 (one day), got 0.0"),
        Bad(
            elastic: "{deterministic: true, max_workers: 200}", workers: 3, line: "elastic:",
            expected: "elastic.deterministic: bitwise recovery sums at most 128 logical shards (max_workers), got 200"),
        Bad(
            elastic: "{deterministic: true}", extra: "parallelism: {gradient: {compression: bf16}}\n", line: "elastic:",
            expected:
                "elastic.deterministic: bitwise recovery needs the exact gradient sum: leave parallelism.gradient.compression out"
        ),
        Bad(
            elastic: "{max_workers: 6}", workers: 4, extra: "parallelism: {pipeline_stages: 2}\n", line: "elastic:",
            expected:
                "elastic.max_workers: a pipeline (pipeline_stages 2) grows back at most to the workers the hosts run (a grid by whole replicas; one pipeline restarts whole under elastic.restart); leave max_workers out"
        ),
        Bad(elastic: "{min_workers: two}", line: "elastic:", expected: "elastic.min_workers: expected an integer, got \"two\""),
        Bad(elastic: "{restarts: 3}", line: "elastic:", expected: "elastic.restarts: unknown key"),
    ]

    /// Each mistake is one line: `cluster.yaml:LINE: key: message`.
    @Test(arguments: bad) func mistakesAreOneLineErrors(_ c: Bad) {
        let source = Self.text(c.elastic, workers: c.workers, extra: c.extra)
        do {
            let config = try ClusterConfig.parse(source, file: "cluster.yaml")
            Issue.record("expected \(c.expected), got a config with \(String(describing: config.elastic))")
        } catch {
            let line = ClusterConfigTests.line(of: c.line, in: source)
            let text = "\(error)"
            #expect(!text.contains("\n"), "one line: \(text)")
            #expect(text.hasPrefix("cluster.yaml:\(line): "), "\(text)")
            #expect(text.contains(c.expected), "\(text)")
        }
    }
}
