import Foundation
import Testing
import Transport

/// A ring made ahead of need (`createUnnamed`) has no name in /dev/shm until `publishName`, so a process that dies
/// holding one leaves nothing behind; once named it is a ring like any other: the sender opens it from the offer
/// and the bytes go through.
@Suite(.enabled(if: SharedMemoryRing.isSupported && FileManager.default.fileExists(atPath: "/dev/shm")))
struct SharedMemoryUnnamedRingTests {
    static func ringFiles() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { $0.hasPrefix("cohort-\(getpid())-") })
    }

    /// Other tests of this process make and remove named rings meanwhile (CI once saw the whole set change), so
    /// the check is on this ring's own name: no file of /dev/shm carries its nonce until it is named.
    @Test func anUnnamedRingLeavesNoFileUntilNamed() throws {
        let receiver = try SharedMemoryRing.createUnnamed(slotCount: 3, slotBytes: 100)
        let nonce = "-" + String(receiver.nonce, radix: 16)
        let named = { try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { $0.hasSuffix(nonce) } }
        #expect(receiver.path.isEmpty)
        #expect(try named().isEmpty)
        #expect(receiver.slotCount == 4 && receiver.slotBytes == 128)
        try receiver.publishName()
        #expect(SharedMemoryRing.isRingPath(receiver.path))
        #expect(try named() == [URL(fileURLWithPath: receiver.path).lastPathComponent])
        #expect(try Self.ringFiles().contains(URL(fileURLWithPath: receiver.path).lastPathComponent))
        receiver.unlinkName()
        #expect(try named().isEmpty)
    }

    @Test func aNamedRingCarriesBytesToItsSender() throws {
        let receiver = try SharedMemoryRing.createUnnamed(slotCount: 2, slotBytes: 64)
        try receiver.publishName()
        let sender = try SharedMemoryRing.open(path: receiver.path, nonce: receiver.nonce)
        receiver.unlinkName()
        for value in [UInt64(0xC0FFEE), 42, .max] {
            try sender.send(deadline: .after(seconds: 5), operation: "test") { _, payload in
                payload.storeBytes(of: value, as: UInt64.self)
            }
            let got = try receiver.receive(deadline: .after(seconds: 5), operation: "test") { _, payload in
                payload.load(as: UInt64.self)
            }
            #expect(got == value)
        }
    }

    @Test func aClosedEndFailsTheOtherSidesWaitAtOnce() throws {
        let receiver = try SharedMemoryRing.createUnnamed(slotCount: 2, slotBytes: 64)
        try receiver.publishName()
        let sender = try SharedMemoryRing.open(path: receiver.path, nonce: receiver.nonce)
        receiver.unlinkName()
        sender.markClosed()
        let start = Deadline.nowNanoseconds()
        #expect(throws: TransportError.self) {
            _ = try receiver.receive(deadline: .after(seconds: 10), operation: "test") { _, _ in 0 }
        }
        #expect(Double(Deadline.nowNanoseconds() - start) / 1e9 < 5, "the wait ran to its deadline")
    }
}
