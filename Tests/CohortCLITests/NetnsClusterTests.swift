import CohortTestSupport
import Foundation
import Testing

/// Whether this process may create network namespaces (root, and a kernel/container that permits it): probed by
/// creating and deleting one, since being root is not enough inside many containers.
func networkNamespacesPermitted() -> Bool {
    guard getuid() == 0,
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip")
    else {
        return false
    }
    let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
    let name = "cohort-probe-\(getpid())"
    func run(_ args: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ip)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }
    guard run(["netns", "add", name]) else { return false }
    _ = run(["netns", "del", name])
    return true
}

/// scripts/netns-cluster.sh for real: a coordinator host and 3 worker hosts in their own network namespaces,
/// every process inside its namespace, talking over a private bridge.
@Suite(.timeLimit(.minutes(2)))
struct NetnsClusterTests {
    @Test(.enabled(if: networkNamespacesPermitted(), "needs root and permission for `ip netns add`"))
    func threeHostClusterTrainsAcrossNamespacesAndTearsDown() throws {
        let binary = try requireCohortBinary()
        let script = packageRoot().appendingPathComponent("scripts/netns-cluster.sh")
        let dir = try scratchDirectory("netns")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        // The bandwidth limit too, where tc is installed (the tbf qdisc then shapes every host's link).
        let tc = ["/usr/sbin/tc", "/sbin/tc"].contains { FileManager.default.isExecutableFile(atPath: $0) }
        p.arguments =
            [script.path, "--binary", binary.path, "--steps", "40", "--timeout", "50", "--json", "--keep", dir.path]
            + (tc ? ["--rate", "1gbit"] : [])
        let log = dir.appendingPathComponent("script.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let out = try FileHandle(forWritingTo: log)
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let start = Date()
        while p.isRunning && Date().timeIntervalSince(start) < 60 { usleep(50_000) }
        if p.isRunning { p.interrupt() }  // SIGINT: the script's trap still tears down
        p.waitUntilExit()
        try? out.close()
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(p.terminationStatus == 0, "\(text)")
        let done = try #require(lastJSONObject(text), "no done line: \(text)")
        #expect(done["workers"] as? Int == 3)
        let sums = try #require(done["weight_checksums"] as? [String])
        #expect(sums.count == 3 && Set(sums).count == 1, "\(sums)")
        // Workers registered from their namespace addresses, not loopback.
        for host in ["10.77.0.11", "10.77.0.12", "10.77.0.13"] {
            #expect(text.contains("(last: \(host),"), "no worker registered from \(host): \(text)")
        }
        let yaml = try String(contentsOf: dir.appendingPathComponent("cluster.yaml"), encoding: .utf8)
        #expect(yaml.contains("address: 10.77.0.13"))
        // Nothing left behind: the run's namespaces are gone.
        let tag = text.range(of: #"cohort[0-9]+-br"#, options: .regularExpression).map { String(text[$0].dropLast(3)) }
        let list = Process()
        list.executableURL = URL(fileURLWithPath: "/bin/sh")
        list.arguments = ["-c", "ip netns list > \(dir.path)/netns.txt"]
        try list.run()
        list.waitUntilExit()
        let remaining = (try? String(contentsOfFile: "\(dir.path)/netns.txt", encoding: .utf8)) ?? ""
        if let tag { #expect(!remaining.contains(tag), "namespaces left behind: \(remaining)") }
    }
}
