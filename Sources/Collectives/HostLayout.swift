/// Which host each rank of a group runs on, numbered by first appearance. Hierarchical collectives split a group
/// along it: the ranks of one host talk through shared memory, and only one shard per rank crosses the network.
public struct HostLayout: Sendable, Equatable {
    /// Host index of each group rank.
    public let hostOfRank: [Int]

    public init(hostOfRank: [Int]) {
        var numbering: [Int: Int] = [:]
        self.hostOfRank = hostOfRank.map { h in
            if let n = numbering[h] { return n }
            numbering[h] = numbering.count
            return numbering.count - 1
        }
    }

    /// From a peer table: ranks whose tcp endpoints name the same address are one host; inproc:// and ipc://
    /// endpoints are all on this host.
    public init(endpoints: [String]) {
        var ids: [String: Int] = [:]
        self.init(
            hostOfRank: endpoints.map { e in
                let host = Self.hostPart(of: e)
                if let id = ids[host] { return id }
                ids[host] = ids.count
                return ids.count - 1
            })
    }

    /// `size` ranks in blocks of `ranksPerHost` consecutive ranks (the launcher's order), for tests and benches.
    public static func blocks(size: Int, ranksPerHost: Int) -> HostLayout {
        HostLayout(hostOfRank: (0..<size).map { $0 / max(1, ranksPerHost) })
    }

    public var hostCount: Int { (hostOfRank.max() ?? -1) + 1 }

    /// The group ranks on host `h`, in rank order.
    public func ranks(onHost h: Int) -> [Int] { hostOfRank.indices.filter { hostOfRank[$0] == h } }

    /// Several hosts, each with the same number (two or more) of ranks: the shape a hierarchical all-reduce needs.
    public var isHierarchical: Bool {
        let counts = (0..<hostCount).map { ranks(onHost: $0).count }
        guard let first = counts.first else { return false }
        return counts.count >= 2 && first >= 2 && counts.allSatisfy { $0 == first }
    }

    static func hostPart(of endpoint: String) -> String {
        guard endpoint.hasPrefix("tcp://") else { return "local" }
        let rest = endpoint.dropFirst("tcp://".count)
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { return String(rest[...close]) }
        return String(rest.split(separator: ":", maxSplits: 1).first ?? rest)
    }
}
