import Transport

/// Hierarchical all-reduce for several ranks per host (NCCL's tree/ring split, Horovod's hierarchical mode):
///   1. reduce-scatter within each host (shared memory): local rank l owns the host's sum of segment l;
///   2. across hosts, an all-reduce of each segment among the ranks with the same local index, so every local rank
///      drives its own inter-host ring and the host's link carries 2(H−1)/H of the buffer in all;
///   3. all-gather within each host.
/// Determinism: each segment is summed in a fixed order (the host ring, then the cross-host ring) and copied
/// from one owner, so every rank ends with bitwise identical values.
extension Communicator {
    func hierarchicalAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp, wire: WirePrecision)
        throws(CollectiveError)
    {
        guard size > 1, buffer.count > 0 else { return }
        let groups = try hierarchyGroups()
        let mine = try groups.local.reduceScatter(buffer, op: .sum, wire: wire)
        let segment = UnsafeMutableBufferPointer(rebasing: buffer[mine])
        try groups.cross.allReduce(segment, op: .sum, wire: wire)
        if op == .average, let base = segment.baseAddress {
            ReduceKernels.divide(base, count: segment.count, divisor: Float(size))
        }
        try groups.local.withRingCollective("allgather", count: buffer.count) { run throws(CollectiveError) in
            try groups.local.ringAllGather(buffer, wire: wire, run: run, sendOwnFirst: true)
        }
    }

    /// The host's group and this rank's cross-host group, formed on first use (no messages: every member derives
    /// the same groups from the same host layout).
    func hierarchyGroups() throws(CollectiveError) -> HierarchyGroups {
        if let groups = hierarchy { return groups }
        let layout = hosts
        guard layout.isHierarchical else {
            throw .invalidArgument(
                "rank \(rank): a hierarchical all-reduce needs several hosts with the same number (≥ 2) of ranks each")
        }
        let onMyHost = layout.ranks(onHost: layout.hostOfRank[rank])
        guard let localIndex = onMyHost.firstIndex(of: rank) else {
            throw .invalidArgument("rank \(rank) is missing from its host's ranks")
        }
        let peers = (0..<layout.hostCount).map { layout.ranks(onHost: $0)[localIndex] }
        let local: Communicator?
        let cross: Communicator?
        do {
            local = try subgroup(ranks: onMyHost, tag: 0x486F_7374)  // "Host"
            cross = try subgroup(ranks: peers, tag: 0x4372_6F73 &+ UInt32(localIndex))  // "Cros" + local index
        } catch {
            throw .invalidArgument("rank \(rank): cannot form the hierarchical groups: \(error)")
        }
        guard let local, let cross else { throw .invalidArgument("rank \(rank) is missing from its hierarchical groups") }
        let groups = HierarchyGroups(local: local, cross: cross)
        hierarchy = groups
        return groups
    }
}

/// A rank's two groups in a hierarchical all-reduce: the ranks of its host, and the ranks with its local index
/// on every host.
final class HierarchyGroups {
    let local: Communicator
    let cross: Communicator

    init(local: Communicator, cross: Communicator) {
        self.local = local
        self.cross = cross
    }
}
