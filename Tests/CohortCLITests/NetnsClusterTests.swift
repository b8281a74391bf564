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
@Suite(.timeLimit(.minutes(4)))
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
        // Hosts are hosts: one worker each, a private /dev/shm each, so every gradient byte went over a socket.
        #expect(done["shm_bytes"] as? Int == 0, "\(text)")
        #expect((done["socket_bytes"] as? Int ?? 0) > 0, "\(text)")
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

    /// Two hosts with two workers each: the workers of a host share its /dev/shm and talk through it; across hosts
    /// only sockets, and (the hierarchical all-reduce) only between workers of the same local index.
    @Test(.enabled(if: networkNamespacesPermitted(), "needs root and permission for `ip netns add`"))
    func workersOfOneHostShareMemoryAndHostsOnlySockets() throws {
        let binary = try requireCohortBinary()
        let script = packageRoot().appendingPathComponent("scripts/netns-cluster.sh")
        let result = try ProcessRunner.run(
            "/bin/bash",
            [
                script.path, "--binary", binary.path, "--hosts", "2", "--workers-per-host", "2", "--steps", "30", "--timeout",
                "50", "--json",
            ],
            timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let done = try #require(lastJSONObject(result.stdout), "no done line: \(result.stdout) \(result.stderr)")
        let links = try #require(done["links"] as? [[String: Any]])
        let hostOf = { (rank: Int) in rank / 2 }  // ranks in host order, two a host
        var sharedWithinHost = 0
        var (sameIndex, otherIndex) = (0, 0)
        for link in links {
            let (rank, peer) = (link["rank"] as? Int ?? -1, link["peer"] as? Int ?? -1)
            let transport = link["transport"] as? String ?? ""
            let bytes = link["bytes"] as? Int ?? 0
            if hostOf(rank) != hostOf(peer) {
                #expect(transport == "socket", "\(rank)→\(peer) crossed hosts through \(transport)")
                if rank % 2 == peer % 2 { sameIndex += bytes } else { otherIndex += bytes }
            } else if transport == "shm" {
                sharedWithinHost += 1
            }
        }
        #expect(sharedWithinHost == 4, "\(links)")
        // The gradients cross between workers of the same local index; other pairs carry only the start-up
        // broadcast of the weights (a chain) and the link set-up.
        #expect(otherIndex * 5 < sameIndex, "same local index \(sameIndex) bytes, others \(otherIndex)")
    }
}
