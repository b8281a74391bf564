import CohortTestSupport
import Collectives
import Foundation
import Testing
import Transport

/// The shared-memory handshake joins only ranks of one host: same kernel boot, same network and mount namespaces.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct SharedMemoryHostTests {
    /// Two rank processes; `wrap(r)` is put before rank r's `cohort` command line, and every endpoint is a unix
    /// socket in a fresh folder (reachable across network namespaces, unlike 127.0.0.1). Returns each rank's
    /// "inbound/outbound" link kinds.
    func linkKinds(wrap: (Int) -> [String]) throws -> [String] {
        let binary = try requireCohortBinary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cohort-hosts-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let context = try Context()
        let server = try Rendezvous.Server(bind: "ipc://\(dir.path)/rendezvous", context: context)
        let children = try (0..<2).map { r in
            let command =
                wrap(r) + [
                    binary.path, "bench", "rank", "--mode", "links", "--rank", "\(r)", "--ranks", "2",
                    "--rendezvous", server.endpoint, "--bind", "ipc://\(dir.path)/rank-\(r)", "--timeout", "20",
                ]
            return try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), command)
        }
        _ = try server.collect(size: 2, deadline: .after(seconds: 30))
        return try children.enumerated().map { r, child in
            let status = child.wait(timeout: 30)
            guard status == 0 else { throw TestFailure("rank \(r): status \(String(describing: status)): \(child.output)") }
            let inbound = child.output.contains("\"inbound\":\"shm\"") ? "shm" : "socket"
            let outbound = child.output.contains("\"outbound\":\"shm\"") ? "shm" : "socket"
            return "\(inbound)/\(outbound)"
        }
    }

    @Test func ranksOfOneHostUseSharedMemory() throws {
        #expect(try linkKinds { _ in [] } == ["shm/shm", "shm/shm"])
    }

    @Test func aPeerClaimingAnotherHostIsRefusedShm() throws {
        let kinds = try linkKinds { r in r == 1 ? ["COHORT_HOST_IDENTITY=another-host"] : [] }
        #expect(kinds == ["socket/socket", "socket/socket"])
    }

    @Test(
        .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "needs root and unshare"))
    func aPeerInAnotherNetworkNamespaceIsRefusedShmThoughItSharesDevShm() throws {
        let kinds = try linkKinds { r in r == 1 ? ["/usr/bin/unshare", "--net", "--"] : [] }
        #expect(kinds == ["socket/socket", "socket/socket"])
    }

    @Test func theIdentityNamesBootAndNamespaces() {
        let id = HostIdentity.current
        #expect(id.contains("net:[") && id.contains("mnt:["), "\(id)")
        #expect(HostIdentity.decode(HostIdentity.encode(id)) == id)
    }
}
