/// Ranges the runtime can represent, checked by validation so that a typo fails `cohort validate` with the key
/// and line instead of overflowing, sleeping for centuries or reaching ssh as an option.
public enum ConfigLimits {
    /// Every duration in a cluster file: one day. Deadlines are added to monotonic nanoseconds, and a day is
    /// longer than any sensible heartbeat, deadline or rendezvous.
    public static let maximumSeconds = 86_400.0
    /// Workers on one host: far above any core count, small enough that port ranges and rank sums cannot overflow.
    public static let maximumWorkersPerHost = 4096
    /// `elastic.deterministic`: logical shards whose 16-bit gradient pieces still sum exactly in fp32 (DeterministicGradientSum).
    public static let maximumDeterministicShards = 128

    /// A DNS name, IPv4 or IPv6 address: what ssh and ZeroMQ take as a destination, and never an ssh option.
    public static func isHostName(_ s: String) -> Bool {
        s.utf8.count <= 253 && s.first != "-"
            && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-:_".contains($0)) }
    }

    /// A POSIX user name as ssh's `-l` takes it.
    public static func isUserName(_ s: String) -> Bool {
        s.utf8.count <= 32 && s.first != "-" && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-_".contains($0)) }
    }
}
