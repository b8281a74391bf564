import Config
import Foundation
import Runtime
import Testing
import Training
import Transport

/// How `cohort launch` hands the job's token to the workers it starts: in the environment of a local worker, on
/// the standard input of a remote one (through ssh), never in the arguments that `ps` shows every user. And
/// each worker binds the configured interface, remote hosts included, never all interfaces unless told.
@Suite struct LaunchTokenTests {
    static func config(interface: String?, hosts: [String]) throws -> ClusterConfig {
        let interfaceLine = interface.map { "  interface: \"\($0)\"\n" } ?? ""
        let hostLines = hosts.map { "  - {address: \($0), workers: 1}\n" }.joined()
        return try ClusterConfig.parse(
            """
            cluster:
              name: t
              coordinator: {host: 127.0.0.1, port: 5555}
              data_ports: 5600
            \(interfaceLine)hosts:
            \(hostLines)job:
              model: {layers: [32, 48, 10], activation: relu, init: he_normal}
              optimizer: {name: momentum, lr: 0.05, momentum: 0.9}
              data: {dataset: synthetic}
              batch_size: \(2 * hosts.count)
              steps: 1
            parallelism: {data_parallel: \(hosts.count)}
            """)
    }

    func value(after flag: String, in args: [String]) -> String? {
        guard let i = args.firstIndex(of: flag), args.indices.contains(i + 1) else { return nil }
        return args[i + 1]
    }

    @Test func aLocalWorkerGetsTheTokenInItsEnvironmentOnly() throws {
        let token = JobToken.generate()
        let config = try Self.config(interface: nil, hosts: ["127.0.0.1"])
        let launcher = Launcher(
            config: config, coordinatorEndpoint: "tcp://127.0.0.1:5555", executable: "/bin/true", security: .token(token))
        let command = launcher.command(for: try #require(config.plannedRanks().first))
        #expect(!command.arguments.joined(separator: " ").contains(token.value), "\(command.arguments)")
        #expect(command.environment[JobToken.environmentVariable] == token.value)
        #expect(command.standardInput == nil)
        #expect(value(after: "--interface", in: command.arguments) == "127.0.0.1")
    }

    @Test func aRemoteWorkerReadsTheTokenFromStdinThroughSSH() throws {
        let token = JobToken.generate()
        let config = try Self.config(interface: "eth1", hosts: ["127.0.0.1", "node-7.example"])
        let launcher = Launcher(
            config: config, coordinatorEndpoint: "tcp://10.0.0.1:5555", executable: "/bin/true", security: .token(token))
        let remote = launcher.command(for: config.plannedRanks()[1])
        #expect(remote.executable == "/usr/bin/ssh")
        #expect(!remote.arguments.joined(separator: " ").contains(token.value), "\(remote.arguments)")
        #expect(remote.environment[JobToken.environmentVariable] == nil)
        #expect(remote.standardInput == token.value + "\n")
        #expect(value(after: "--token-file", in: remote.arguments) == "/dev/stdin")
        // The configured interface on the remote host too.
        #expect(value(after: "--interface", in: remote.arguments) == "eth1", "\(remote.arguments)")
        let local = launcher.command(for: config.plannedRanks()[0])
        #expect(value(after: "--interface", in: local.arguments) == "eth1")
    }

    @Test func noInterfaceMeansEachHostsAddressAndStarOnlyWhenSaid() throws {
        let byHost = try Self.config(interface: nil, hosts: ["127.0.0.1", "node-7.example"])
        let l1 = Launcher(config: byHost, coordinatorEndpoint: "tcp://10.0.0.1:5555", executable: "/bin/true")
        #expect(value(after: "--interface", in: l1.command(for: byHost.plannedRanks()[1]).arguments) == "node-7.example")
        let star = try Self.config(interface: "*", hosts: ["127.0.0.1", "node-7.example"])
        let l2 = Launcher(config: star, coordinatorEndpoint: "tcp://10.0.0.1:5555", executable: "/bin/true")
        let ranks = star.plannedRanks()
        #expect(value(after: "--interface", in: l2.command(for: ranks[0]).arguments) == "*")
        // Over ssh the arguments are shell-quoted for the remote shell.
        #expect(value(after: "--interface", in: l2.command(for: ranks[1]).arguments) == "'*'")
        #expect(byHost.cluster.interface.isEmpty, "an omitted interface is not all interfaces")
    }

    @Test func bindAddressResolvesNamesAndNeverWidens() throws {
        #expect(try bindAddress(forHost: "10.1.2.3") == "10.1.2.3")
        #expect(try bindAddress(forHost: "localhost") == "127.0.0.1")
        let mine = try bindAddress(forHost: ProcessInfo.processInfo.hostName)
        #expect(mine != "*" && mine != "0.0.0.0", "\(mine)")
        #expect(throws: (any Error).self) { try bindAddress(forHost: "no-such-host.invalid") }
    }

    @Test func tokenFileIsValidatedAndRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("job-token").path
        let token = JobToken.generate()
        try token.write(toFile: file)
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try JobToken.load(file: file) == token)
        var config = try Self.config(interface: nil, hosts: ["127.0.0.1"])
        config.cluster.security.tokenFile = file
        #expect(config.validationIssues().isEmpty)
        #expect(try config.peerSecurity() == .token(token))
        config.cluster.security.tokenFile = dir.appendingPathComponent("missing").path
        let issues = config.validationIssues()
        #expect(issues.contains { "\($0)".contains("token_file") && "\($0)".contains("not a readable file") }, "\(issues)")
        #expect(throws: (any Error).self) { try JobToken.load(file: dir.path + "/missing") }
        try "short\n".write(toFile: file + ".bad", atomically: true, encoding: .utf8)
        #expect {
            try JobToken.load(file: file + ".bad")
        } throws: { "\($0)".contains(file + ".bad") }
    }
}
