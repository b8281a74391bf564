import Transport

/// Which all-reduce algorithm to run.
public enum AllReduceAlgorithm: String, Sendable, CaseIterable {
    /// Recursive doubling up to `options.smallAllReduceBytes`, the ring above (hierarchical where the host layout
    /// has several ranks on each of several hosts); the ring at every size when every link of the ring is shared
    /// memory.
    case automatic
    case ring
    case recursiveDoubling
    /// Within each host, then across hosts (`HostLayout.isHierarchical` must hold).
    case hierarchical
}

extension Communicator {
    /// Reduces `buffer` across all ranks in place: afterwards every rank holds the same (bitwise identical)
    /// sum or average. Every rank must pass the same element count.
    public func allReduce(
        _ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp = .sum, wire: WirePrecision = .float32,
        algorithm: AllReduceAlgorithm = .automatic
    ) throws(CollectiveError) {
        // A membership that ended while no wait was blocked (a worker joined; every peer still answers) ends
        // here, at the next step's all-reduce, not only inside a blocked receive.
        if let reason = plane.interruption(of: epoch) {
            throw .aborted(operation: "all-reduce", me: rank, epoch: epoch, reason: reason)
        }
        switch try resolve(algorithm, count: buffer.count) {
        case .hierarchical: try hierarchicalAllReduce(buffer, op: op, wire: wire)
        case .recursiveDoubling: try recursiveDoublingAllReduce(buffer, op: op, wire: wire)
        case .ring, .automatic: try ringAllReduce(buffer, op: op, wire: wire)
        }
    }

    public func allReduce(
        _ values: inout [Float], op: ReduceOp = .sum, wire: WirePrecision = .float32,
        algorithm: AllReduceAlgorithm = .automatic
    ) throws(CollectiveError) {
        let result: Result<Void, CollectiveError> = values.withUnsafeMutableBufferPointer { b in
            do throws(CollectiveError) {
                try allReduce(b, op: op, wire: wire, algorithm: algorithm)
                return .success(())
            } catch { return .failure(error) }
        }
        try result.get()
    }
}

extension Communicator {
    /// The algorithm `.automatic` stands for: hierarchical for large buffers on several hosts with several ranks
    /// each; else the ring for large buffers or an all-shared-memory ring, recursive doubling for small ones.
    fileprivate func resolve(_ algorithm: AllReduceAlgorithm, count: Int) throws(CollectiveError) -> AllReduceAlgorithm {
        guard algorithm == .automatic else { return algorithm }
        let large = count * 4 > options.smallAllReduceBytes
        if large && hosts.isHierarchical { return .hierarchical }
        return try everyRingLinkShared() || large ? .ring : .recursiveDoubling
    }

    /// Whether every link of the ring is shared memory, negotiating the links first if no ring collective has.
    fileprivate func everyRingLinkShared() throws(CollectiveError) -> Bool {
        guard size > 1 else { return false }
        if let links = ringLinks { return links.everyLinkShared }
        return try establishRingLinks(sequence: nextSequence(), deadline: deadline(), operation: "allreduce").everyLinkShared
    }
}
