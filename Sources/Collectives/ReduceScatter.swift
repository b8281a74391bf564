import Transport

extension Communicator {
    /// The part of a `count`-element buffer that rank `rank` owns after `reduceScatter` (balanced split; the
    /// first ranks get the shorter parts when `count` isn't a multiple of the size).
    public func reduceScatterRange(count: Int, rank: Int) -> Range<Int> {
        RingPartition(count: count, parts: size, chunkElements: 1).segment(rank)
    }

    /// Reduces `buffer` across ranks so that this rank's part (`reduceScatterRange(count:rank:)`, returned) holds
    /// the sum or average over all ranks; the rest of the buffer is scratch afterwards. The ring's first phase.
    @discardableResult
    public func reduceScatter(
        _ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp = .sum,
        wire: WirePrecision = .float32
    ) throws(CollectiveError) -> Range<Int> {
        let seq = nextSequence()
        let mine = reduceScatterRange(count: buffer.count, rank: rank)
        guard size > 1, buffer.count > 0 else { return mine }
        let deadline = deadline()
        let release = ZeroCopyRelease()
        let partition = try ringPartition(count: buffer.count, sequence: seq, deadline: deadline, operation: "reducescatter")
        do {
            try ringReduceScatter(
                buffer, op: op, wire: wire, sequence: seq, partition: partition, release: release,
                deadline: deadline, operation: "reducescatter", gatherAfter: false)
            try flushRingSends(operation: "reducescatter", deadline: deadline)
        } catch {
            ringLinks?.dropPending()
            _ = release.waitUntilReleased(deadline: .after(seconds: 0.5))
            throw error
        }
        try drain(release, operation: "reducescatter", peer: right, deadline: deadline)
        return mine
    }
}
