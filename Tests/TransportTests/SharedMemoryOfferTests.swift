import Foundation
import Testing
import Transport

/// The shared-memory offer names a file that a peer chose: the sender opens only a `cohort-` ring file in
/// /dev/shm made by this user (no link, a regular file, owned by this uid, mode 0600); anything else is refused,
/// and the link stays on its socket.
@Suite(.enabled(if: SharedMemoryRing.isSupported && FileManager.default.fileExists(atPath: "/dev/shm")))
struct SharedMemoryOfferTests {
    /// A ring as the receiver makes it, and the path/nonce its offer carries.
    static func ring() throws -> SharedMemoryRing { try SharedMemoryRing.create(slotCount: 2, slotBytes: 64) }

    static func refused(_ path: String, nonce: UInt64, _ what: String) {
        #expect(throws: TransportError.self, "\(what) was opened") {
            _ = try SharedMemoryRing.open(path: path, nonce: nonce)
        }
    }

    @Test func aRealRingOpens() throws {
        let receiver = try Self.ring()
        defer { receiver.unlinkName() }
        let sender = try SharedMemoryRing.open(path: receiver.path, nonce: receiver.nonce)
        #expect(sender.slotCount == receiver.slotCount)
    }

    @Test func aSymlinkToARingIsRefused() throws {
        let receiver = try Self.ring()
        defer { receiver.unlinkName() }
        let link = "/dev/shm/cohort-link-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: receiver.path)
        defer { unlink(link) }
        Self.refused(link, nonce: receiver.nonce, "a symbolic link")
    }

    @Test func aFileOfAnotherModeIsRefused() throws {
        let receiver = try Self.ring()
        defer { receiver.unlinkName() }
        #expect(chmod(receiver.path, 0o644) == 0)
        Self.refused(receiver.path, nonce: receiver.nonce, "a 0644 file")
        #expect(chmod(receiver.path, 0o600) == 0)
        _ = try SharedMemoryRing.open(path: receiver.path, nonce: receiver.nonce)
    }

    @Test func pathsOutsideTheRingNamespaceAreRefused() throws {
        let receiver = try Self.ring()
        defer { receiver.unlinkName() }
        let name = (receiver.path as NSString).lastPathComponent
        // A copy of a real ring under another name or directory: same bytes and nonce, still refused.
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        let otherName = "/dev/shm/other-\(name)"
        for path in [elsewhere, otherName] {
            try FileManager.default.copyItem(atPath: receiver.path, toPath: path)
            chmod(path, 0o600)
        }
        defer { for path in [elsewhere, otherName] { unlink(path) } }
        Self.refused(elsewhere, nonce: receiver.nonce, "a ring outside /dev/shm")
        Self.refused(otherName, nonce: receiver.nonce, "a file without the cohort- prefix")
        Self.refused("/dev/shm/../dev/shm/\(name)", nonce: receiver.nonce, "a path with ..")
        Self.refused("/dev/shm/cohort-x/../\(name)", nonce: receiver.nonce, "a path with ..")
        Self.refused("/etc/passwd", nonce: receiver.nonce, "/etc/passwd")
        Self.refused("cohort-relative", nonce: receiver.nonce, "a relative path")
        #expect(!SharedMemoryRing.isRingPath("/dev/shm/cohort-a/b"))
        #expect(SharedMemoryRing.isRingPath(receiver.path))
    }

    @Test func aDirectoryIsRefused() throws {
        let dir = "/dev/shm/cohort-dir-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { rmdir(dir) }
        Self.refused(dir, nonce: 1, "a directory")
    }
}
