import Foundation

/// What makes two processes "on the same host" for shared memory: the kernel's boot id and the network and mount
/// namespaces. A ring file that another kernel instance or namespace happens to be able to open (a shared
/// `/dev/shm` bind-mounted into two containers, say) would otherwise join two hosts that the peer table keeps
/// apart, and their gradients would never touch the network that the cluster file describes.
public enum HostIdentity {
    /// Fixed size of the identity on the wire: NUL-padded UTF-8, longer text cut.
    public static let bytes = 128

    /// This process's identity: "boot-id net:[inode] mnt:[inode]". `COHORT_HOST_IDENTITY` replaces it, so a test
    /// can make one process look like another host's.
    public static var current: String {
        if let forced = ProcessInfo.processInfo.environment["COHORT_HOST_IDENTITY"] { return forced }
        let boot =
            (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown-boot"
        let fm = FileManager.default
        let net = (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) ?? "net:?"
        let mnt = (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")) ?? "mnt:?"
        return "\(boot) \(net) \(mnt)"
    }

    /// `identity` as its fixed-size wire form.
    public static func encode(_ identity: String) -> [UInt8] {
        let utf8 = Array(identity.utf8.prefix(bytes))
        return utf8 + [UInt8](repeating: 0, count: bytes - utf8.count)
    }

    /// The identity in a fixed-size wire form (up to its first NUL).
    public static func decode(_ raw: some Collection<UInt8>) -> String {
        String(decoding: raw.prefix(bytes).prefix { $0 != 0 }, as: UTF8.self)
    }
}
