import Transport

/// Which all-reduce algorithm to run.
public enum AllReduceAlgorithm: String, Sendable, CaseIterable {
    /// Recursive doubling up to `options.smallAllReduceBytes`, the ring above; the ring at every size when every
    /// link of the ring is shared memory.
    case automatic
    case ring
    case recursiveDoubling
}

extension Communicator {
    /// Reduces `buffer` across all ranks in place: afterwards every rank holds the same (bitwise identical)
    /// sum or average. Every rank must pass the same element count.
    public func allReduce(
        _ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp = .sum, wire: WirePrecision = .float32,
        algorithm: AllReduceAlgorithm = .automatic
    ) throws(CollectiveError) {
        let useRing: Bool
        switch algorithm {
        case .ring: useRing = true
        case .recursiveDoubling: useRing = false
        case .automatic:
            useRing = try everyRingLinkShared() || buffer.count * 4 > options.smallAllReduceBytes
        }
        if useRing {
            try ringAllReduce(buffer, op: op, wire: wire)
        } else {
            try recursiveDoublingAllReduce(buffer, op: op, wire: wire)
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
    /// Whether every link of the ring is shared memory, negotiating the links first if no ring collective has.
    fileprivate func everyRingLinkShared() throws(CollectiveError) -> Bool {
        guard size > 1 else { return false }
        if let links = ringLinks { return links.everyLinkShared }
        return try establishRingLinks(sequence: nextSequence(), deadline: deadline(), operation: "allreduce").everyLinkShared
    }
}
