import Config
import Foundation
import Testing

/// `cluster.coordinator.standby` (issue 14): decoded, handed to the workers in their assignment, and validated
/// with the key named.
@Suite struct StandbyConfigTests {
    static let port = "    port: 5555\n"

    static func parse(_ standby: String, token: Bool = true) throws -> ClusterConfig {
        var text = ClusterConfigTests.mutated(port, port + standby)
        if token { text = text.replacingOccurrences(of: "    curve: false", with: "    curve: false\n    token_file: /dev/null") }
        return try ClusterConfig.parse(text, file: "cluster.yaml")
    }

    @Test func decodesTheStandbysAddress() throws {
        let config = try Self.parse("    standby: {host: 127.0.0.2, port: 5556}\n")
        #expect(config.cluster.coordinator.standby == StandbyCoordinator(host: "127.0.0.2", port: 5556))
        #expect(config.cluster.coordinator.standby?.endpoint == "tcp://127.0.0.2:5556")
        #expect(config.validationIssues().isEmpty, "\(config.validationIssues())")
        #expect(try ClusterConfig.parse(ClusterConfigTests.exampleText, file: "c.yaml").cluster.coordinator.standby == nil)
    }

    @Test(arguments: [
        ("    standby: {host: 127.0.0.1, port: 5555}\n", true, "must differ from the coordinator's own"),
        ("    standby: {host: 127.0.0.1, port: 70000}\n", true, "standby.port"),
        ("    standby: {host: 127.0.0.2, port: 5556}\n", false, "needs security.token_file or curve"),
    ])
    func badStandbysNameTheKeyAndLine(_ c: (String, Bool, String)) {
        do {
            _ = try Self.parse(c.0, token: c.1)
            Issue.record("accepted: \(c.0)")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("cluster.yaml:11: cluster.coordinator.standby") && text.contains(c.2), "\(text)")
            #expect(!text.contains("\n"))
        }
    }

    @Test func anUnknownStandbyKeyIsAnError() {
        do {
            _ = try Self.parse("    standby: {host: 127.0.0.2, prot: 5556}\n")
            Issue.record("standby.prot accepted")
        } catch { #expect("\(error)".contains("cluster.coordinator.standby.prot"), "\(error)") }
    }
}
