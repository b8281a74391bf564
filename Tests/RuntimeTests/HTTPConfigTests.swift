import Config
import Foundation
import Testing

/// `output.http` (issue 18): off by default, decoded strictly, validated with the key and line named.
@Suite struct HTTPConfigTests {
    static let base = "  plot_directory: runs/local/plots"

    static func parse(_ http: String) throws(ConfigError) -> ClusterConfig {
        let text = ClusterConfigTests.mutated(base, base + "\n" + http)
        return try ClusterConfig.parse(text, file: "cluster.yaml")
    }

    @Test func offByDefault() throws {
        let config = try ClusterConfig.load(path: TestFiles.repo("cluster.yaml"))
        #expect(config.output.http == nil)
    }

    @Test func decodesAddressPortAndPublic() throws {
        let config = try Self.parse("  http: {address: 127.0.0.1, port: 9090, public: true}")
        #expect(config.output.http == HTTPSpec(address: "127.0.0.1", port: 9090, isPublic: true))
        let defaults = try Self.parse("  http: {}")
        #expect(defaults.output.http == HTTPSpec(address: nil, port: HTTPSpec.Defaults.port, isPublic: false))
    }

    @Test(arguments: [
        ("  http: {port: 70000}", "output.http.port", "outside 0...65535"),
        ("  http: {address: my-laptop}", "output.http.address", "not an IP address"),
        ("  http: {port: 5555}", "output.http.port", "coordinator's control port"),
        ("  http: {prot: 80}", "output.http.prot", "unknown key"),
        ("  http: {public: maybe}", "output.http.public", "true or false"),
    ])
    func badValuesNameTheKeyAndLine(_ c: (String, String, String)) {
        do {
            let config = try Self.parse(c.0)
            Issue.record("expected an error at \(c.1), got \(String(describing: config.output.http))")
        } catch {
            #expect(error.keyPath == c.1, "\(error)")
            #expect(error.message.contains(c.2), "\(error)")
            #expect(error.line != nil, "\(error)")
        }
    }
}
