import Config
import Foundation
import Runtime
import Testing

/// cluster.yaml decoding: every kind of bad input is one error naming the file, the line and the key path.
@Suite struct ClusterConfigTests {
    static let exampleText = try! String(contentsOfFile: TestFiles.repo("cluster.yaml"), encoding: .utf8)

    /// The example with `old` replaced by `new` (which must occur exactly once).
    static func mutated(_ old: String, _ new: String) -> String {
        precondition(exampleText.components(separatedBy: old).count == 2, "\(old) must occur once in cluster.yaml")
        return exampleText.replacingOccurrences(of: old, with: new)
    }

    /// 1-based line of the first line of `text` that contains `marker`.
    static func line(of marker: String, in text: String) -> Int {
        let lines = text.components(separatedBy: "\n")
        let index = lines.firstIndex { $0.contains(marker) }
        precondition(index != nil, "marker \(marker) not found")
        return index! + 1
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        var old: String
        var new: String
        var keyPath: String
        var message: String
        /// Text on the line the error must point at (in the mutated file).
        var lineMarker: String
        var testDescription: String { "\(keyPath): \(message)" }
    }

    static let badValues: [BadCase] = [
        BadCase(
            old: "  seed: 1\n", new: "  seed: 1\n  optimizer:\n    lr: fast\n", keyPath: "job.optimizer.lr",
            message: "expected a number, got \"fast\"", lineMarker: "lr: fast"),
        BadCase(
            old: "    port: 5555", new: "    port: 5555.5", keyPath: "cluster.coordinator.port",
            message: "expected an integer, got \"5555.5\"", lineMarker: "port: 5555.5"),
        BadCase(
            old: "    port: 5555", new: "    port: \"5555\"", keyPath: "cluster.coordinator.port",
            message: "expected an integer, got \"5555\" (quoted", lineMarker: "port: \"5555\""),
        BadCase(
            old: "    workers: 2", new: "    workers: two", keyPath: "hosts[0].workers",
            message: "expected an integer, got \"two\"", lineMarker: "workers: two"),
        BadCase(
            old: "curve: false", new: "curve: maybe", keyPath: "cluster.security.curve",
            message: "expected true or false, got \"maybe\"", lineMarker: "curve: maybe"),
        BadCase(
            old: "  name: local", new: "  name: {a: 1}", keyPath: "cluster.name", message: "expected a string, got a mapping",
            lineMarker: "name: {a: 1}"),
        BadCase(
            old: "    host: 127.0.0.1", new: "    host: ~", keyPath: "cluster.coordinator.host",
            message: "expected a string, got null", lineMarker: "host: ~"),
        BadCase(
            old: "  seed: 1\n", new: "  seed: 1\n  model:\n    layers: 784\n", keyPath: "job.model.layers",
            message: "expected a list, got \"784\"", lineMarker: "layers: 784"),
        BadCase(
            old: "  seed: 1\n", new: "  seed: 1\n  model:\n    layers: [784, 256, x, 10]\n", keyPath: "job.model.layers[2]",
            message: "expected an integer, got \"x\"", lineMarker: "layers: [784, 256, x"),
        BadCase(
            old: "  workload: W1", new: "  workload: W9", keyPath: "job.workload",
            message: "expected one of W1, W2, W3, W4, got \"W9\"",
            lineMarker: "workload: W9"),
        BadCase(
            old: "  seed: 1", new: "  seed: -1", keyPath: "job.seed", message: "expected a non-negative integer, got \"-1\"",
            lineMarker: "seed: -1"),
        BadCase(
            old: "  epochs: 10", new: "  epochs: 99999999999999999999", keyPath: "job.epochs", message: "is out of range",
            lineMarker: "epochs: 9999"),
        BadCase(
            old: "  epochs: 10", new: "  epochs: [10]", keyPath: "job.epochs", message: "expected an integer, got a list",
            lineMarker: "epochs: [10]"),
        BadCase(
            old: "schedule: gpipe", new: "schedule: pipedream", keyPath: "parallelism.schedule",
            message: "expected one of gpipe, 1f1b, got \"pipedream\"", lineMarker: "schedule: pipedream"),
        BadCase(
            old: "data_ports: 5600 ", new: "data_ports: 56-00-1 ", keyPath: "cluster.data_ports",
            message: "expected a port (5600) or a port range", lineMarker: "data_ports: 56-00-1"),
        BadCase(
            old: "  heartbeat_interval_s: 0.5", new: "  heartbeat_interval_s: soon", keyPath: "timeouts.heartbeat_interval_s",
            message: "expected a number", lineMarker: "heartbeat_interval_s: soon"),
        BadCase(
            old: "  - address: 127.0.0.1\n    workers: 2\n", new: "#  - address: 127.0.0.1\n#    workers: 2\n", keyPath: "hosts",
            message: "expected a list, got null", lineMarker: "hosts:"),
    ]

    static let unknownKeys: [BadCase] = [
        BadCase(
            old: "  interface: 127.0.0.1", new: "  interfce: 127.0.0.1", keyPath: "cluster.interfce", message: "unknown key",
            lineMarker: "interfce:"),
        BadCase(old: "output:", new: "outptu:", keyPath: "outptu", message: "unknown key", lineMarker: "outptu:"),
        BadCase(
            old: "    workers: 2", new: "    workers: 2\n    ssh_usr: me", keyPath: "hosts[0].ssh_usr", message: "unknown key",
            lineMarker: "ssh_usr:"),
        BadCase(
            old: "  seed: 1\n", new: "  seed: 1\n  optimizer:\n    lr: 0.05\n    learning_rate: 0.1\n",
            keyPath: "job.optimizer.learning_rate", message: "unknown key", lineMarker: "learning_rate:"),
        BadCase(
            old: "  epochs: 10", new: "  epochs: 10\n  epochs: 3", keyPath: "job.epochs", message: "duplicate key",
            lineMarker: "epochs: 3"),
    ]

    static let missingKeys: [BadCase] = [
        BadCase(
            old: "    port: 5555\n", new: "", keyPath: "cluster.coordinator.port", message: "missing required key",
            lineMarker: "host: 127.0.0.1"),
        BadCase(
            old: "    workers: 2\n", new: "", keyPath: "hosts[0].workers", message: "missing required key",
            lineMarker: "- address: 127.0.0.1"),
        BadCase(
            old: "  directory: runs/local/checkpoints\n", new: "", keyPath: "checkpoint.directory",
            message: "missing required key", lineMarker: "every_epochs: 1"),
    ]

    static let semanticErrors: [BadCase] = [
        BadCase(
            old: "    workers: 2", new: "    workers: 3", keyPath: "parallelism.data_parallel",
            message: "data_parallel 2 × pipeline_stages 1 = 2, but the hosts run 3 workers", lineMarker: "data_parallel: 2"),
        BadCase(
            old: "    workers: 2", new: "    workers: 0", keyPath: "hosts[0].workers", message: "must be at least 1, got 0",
            lineMarker: "workers: 0"),
        BadCase(
            old: "    port: 5555", new: "    port: 70000", keyPath: "cluster.coordinator.port",
            message: "port 70000 is outside 1...65535", lineMarker: "port: 70000"),
        BadCase(
            old: "    port: 5555", new: "    port: 5601", keyPath: "cluster.data_ports",
            message: "overlap the coordinator port 5601", lineMarker: "data_ports: 5600"),
        BadCase(
            old: "data_ports: 5600 ", new: "data_ports: 5600-5600 ", keyPath: "cluster.data_ports",
            message: "has 1 port but a host runs 2 workers", lineMarker: "data_ports: 5600-5600"),
        BadCase(
            old: "  peer_deadline_s: 5", new: "  peer_deadline_s: 0.6", keyPath: "timeouts.peer_deadline_s",
            message: "at least twice heartbeat_interval_s", lineMarker: "peer_deadline_s: 0.6"),
        BadCase(
            old: "  keep: 3", new: "  keep: 0", keyPath: "checkpoint.keep", message: "must be at least 1", lineMarker: "keep: 0"),
        BadCase(
            old: "curve: false", new: "curve: true", keyPath: "cluster.security.key_file", message: "required when curve is true",
            lineMarker: "curve: true"),
        BadCase(
            old: "  seed: 1\n", new: "  seed: 1\n  optimizer:\n    name: adamm\n", keyPath: "job.optimizer.name",
            message: "adamm", lineMarker: "name: adamm"),
        BadCase(
            old: "  seed: 1\n", new: "  seed: 1\n  model:\n    layers: [784, 0, 10]\n", keyPath: "job.model.layers",
            message: "each ≥ 1", lineMarker: "layers: [784, 0, 10]"),
        BadCase(
            old: "  pipeline_stages: 1", new: "  pipeline_stages: 4", keyPath: "parallelism.data_parallel",
            message: "= 8, but the hosts run 2 workers", lineMarker: "data_parallel: 2"),
    ]

    func expectError(_ c: BadCase) {
        let text = Self.mutated(c.old, c.new)
        let expectedLine = Self.line(of: c.lineMarker, in: text)
        do {
            let config = try ClusterConfig.parse(text, file: "cluster.yaml")
            Issue.record("expected an error at \(c.keyPath), got a config with \(config.totalWorkers) workers")
        } catch {
            #expect(error.file == "cluster.yaml")
            #expect(error.keyPath == c.keyPath)
            #expect(error.line == expectedLine, "\(error)")
            #expect(error.message.contains(c.message), "\(error)")
            #expect(error.description == "cluster.yaml:\(expectedLine): \(c.keyPath): \(error.message)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test(arguments: badValues) func wrongTypeIsAnErrorWithKeyPathAndLine(_ c: BadCase) { expectError(c) }
    @Test(arguments: unknownKeys) func unknownKeyIsAnError(_ c: BadCase) { expectError(c) }
    @Test(arguments: missingKeys) func missingKeyIsAnError(_ c: BadCase) { expectError(c) }
    @Test(arguments: semanticErrors) func inconsistentValuesAreErrors(_ c: BadCase) { expectError(c) }

    @Test func exactMessageOfTheIssueExample() throws {
        let text = Self.mutated("  seed: 1\n", "  seed: 1\n  optimizer:\n    lr: fast\n")
        let line = Self.line(of: "lr: fast", in: text)
        #expect(throws: ConfigError.self) { try ClusterConfig.parse(text, file: "cluster.yaml") }
        do { _ = try ClusterConfig.parse(text, file: "cluster.yaml") } catch {
            #expect(error.description == "cluster.yaml:\(line): job.optimizer.lr: expected a number, got \"fast\"")
        }
    }

    @Test func repositoryClusterYamlIsValid() throws {
        let config = try ClusterConfig.load(path: TestFiles.repo("cluster.yaml"))
        #expect(config.cluster.coordinator == CoordinatorAddress(host: "127.0.0.1", port: 5555))
        #expect(config.hosts == [HostSpec(address: "127.0.0.1", workers: 2)])
        #expect(config.totalWorkers == 2)
        #expect(config.rankLayout == RankLayout(dataParallel: 2, pipelineStages: 1))
        #expect(config.job.workload == "W1")
        #expect(config.job.data.dataset == "fashion-mnist")
        #expect(config.job.epochs == 10)
        #expect(config.job.batchSize == 128)
        #expect(config.validationIssues().isEmpty)
        let ranks = config.plannedRanks()
        #expect(ranks.map(\.dataEndpoint) == ["tcp://127.0.0.1:5600", "tcp://127.0.0.1:5601"])
        #expect(ranks.map(\.coordinates) == [RankCoordinates(stage: 0, replica: 0), RankCoordinates(stage: 0, replica: 1)])
    }

    @Test func exampleRoundTrips() throws {
        let config = try ClusterConfig.load(path: TestFiles.repo("cluster.yaml"))
        let again = try ClusterConfig.parse(try config.yaml(), file: "encoded.yaml")
        #expect(again == config)
    }

    @Test func everyNonDefaultFieldRoundTrips() throws {
        var job = try ClusterConfig.load(path: TestFiles.repo("cluster.yaml")).job
        job.steps = 500
        job.seed = 0xDEAD_BEEF_CAFE
        job.optimizer.lr = 0.1 / 3
        job.regularization.clipNorm = 1.25
        job.earlyStoppingPatience = 4
        job.data.validationFraction = 0.1
        job.model.layers = [784, 64, 64, 10]
        let config = ClusterConfig(
            cluster: ClusterSection(
                name: "lab", coordinator: CoordinatorAddress(host: "10.0.0.1", port: 6000),
                dataPorts: PortRange(first: 7000, last: 7015), interface: "eth0",
                security: SecuritySpec(curve: true, keyFile: "/etc/cohort/cluster.keys")),
            hosts: [HostSpec(address: "10.0.0.2", workers: 2, sshUser: "ml"), HostSpec(address: "10.0.0.3", workers: 2)],
            job: job,
            parallelism: ParallelismSpec(dataParallel: 2, pipelineStages: 2, microBatches: 4, schedule: .oneForwardOneBackward),
            checkpoint: CheckpointSpec(directory: "/ckpt", everyEpochs: 2, everySteps: 100, keep: 5),
            timeouts: TimeoutSpec(heartbeatInterval: 0.25, peerDeadline: 2.5, rendezvousTimeout: 30),
            output: OutputSpec(metricsFile: "m.jsonl", plotDirectory: "plots"))
        #expect(config.validationIssues() == [])
        let text = try config.yaml()
        #expect(text.contains("data_ports: 7000-7015"))
        #expect(text.contains("schedule: 1f1b"))
        #expect(text.contains("ssh_user: ml"))
        let again = try ClusterConfig.parse(text, file: "encoded.yaml")
        #expect(again == config)
    }

    @Test func optionalSectionsTakeDefaults() throws {
        let text = """
            cluster:
              coordinator: {host: 127.0.0.1, port: 5555}
            hosts:
              - {address: 127.0.0.1, workers: 4}
            job: \(Self.jobSectionBlock)
            """
        let config = try ClusterConfig.parse(text)
        #expect(config.cluster.name == "cohort")
        #expect(config.cluster.dataPorts == PortRange(first: 5600))
        #expect(config.cluster.interface == "", "omitted: each host binds its own address, not all interfaces")
        #expect(config.cluster.security == SecuritySpec())
        #expect(config.parallelism == ParallelismSpec(dataParallel: nil, pipelineStages: 1, microBatches: 1, schedule: .gpipe))
        #expect(config.dataParallelDegree == 4)
        #expect(config.checkpoint == nil)
        #expect(config.timeouts == TimeoutSpec())
        #expect(config.output == OutputSpec())
    }

    /// The example's whole job section (indented lines after `job:`), so the defaults test doesn't depend on
    /// which job keys JobSpec itself makes optional.
    static var jobSectionBlock: String {
        let lines = exampleText.components(separatedBy: "\n")
        let start = lines.firstIndex { $0.hasPrefix("job:") }! + 1
        let end = lines[start...].firstIndex { !$0.hasPrefix(" ") && !$0.isEmpty }!
        let body = lines[start..<end].joined(separator: "\n")
        return "\n" + body
    }

    @Test func syntaxErrorNamesTheLine() {
        let text = "cluster:\n  name: x\n   bad: indent\n"
        do {
            _ = try ClusterConfig.parse(text, file: "broken.yaml")
            Issue.record("expected a syntax error")
        } catch {
            #expect(error.file == "broken.yaml")
            #expect(error.line == 3)
            #expect(error.message.hasPrefix("YAML syntax error"))
        }
    }

    @Test func emptyAndMissingFiles() throws {
        do {
            _ = try ClusterConfig.parse("# only a comment\n", file: "empty.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "empty.yaml: the file is empty")
        }
        do {
            _ = try ClusterConfig.load(path: "/nonexistent/cluster.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "/nonexistent/cluster.yaml: no such file")
        }
        do {
            _ = try ClusterConfig.parse("- a\n- b\n", file: "list.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 1)
            #expect(error.message == "expected a mapping of keys, got a list")
        }
    }

    @Test func curveKeyFileIsReadStrictly() throws {
        let dir = try TestFiles.scratchDirectory("keys")
        defer { TestFiles.cleanup(dir) }
        let path = dir.appendingPathComponent("cluster.keys").path
        let publicKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        let secretKey = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
        try "curve_public_key: \"\(publicKey)\"\ncurve_secret_key: \"\(secretKey)\"\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(
            try SecuritySpec(curve: true, keyFile: path).loadKeys() == CurveKeyFile(publicKey: publicKey, secretKey: secretKey))
        #expect(try SecuritySpec(curve: false, keyFile: path).loadKeys() == nil)
        try "curve_public_key: \"short\"\ncurve_secret_key: \"\(secretKey)\"\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(
            throws: ConfigError(
                file: path, line: 1, keyPath: "curve_public_key", message: "expected a 40-character Z85 key, got 5 characters")
        ) {
            try SecuritySpec(curve: true, keyFile: path).loadKeys()
        }
        try "curve_public_key: \"\(publicKey)\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError(file: path, line: 1, keyPath: "curve_secret_key", message: "missing required key")) {
            try SecuritySpec(curve: true, keyFile: path).loadKeys()
        }
    }

    @Test func checkpointDueRules() {
        let byEpoch = CheckpointSpec(directory: "c")
        #expect(byEpoch.isDue(afterEpoch: 1) && byEpoch.isDue(afterEpoch: 2) && !byEpoch.isDue(afterStep: 7))
        let bySteps = CheckpointSpec(directory: "c", everySteps: 5)
        #expect(bySteps.isDue(afterStep: 10) && !bySteps.isDue(afterStep: 11) && !bySteps.isDue(afterEpoch: 1))
        let both = CheckpointSpec(directory: "c", everyEpochs: 2, everySteps: 5)
        #expect(both.isDue(afterEpoch: 2) && !both.isDue(afterEpoch: 3) && both.isDue(afterStep: 5))
    }
}
