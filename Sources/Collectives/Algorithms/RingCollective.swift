import Transport

extension Communicator {
    /// Runs one ring collective over `count` elements: negotiates the links on the group's first ring collective,
    /// plans the partition, and owns the closing every ring algorithm shares. On success the outbound link is
    /// flushed and the zero-copy sends drained, so the caller may touch its buffer again; on failure the queued
    /// chunks are dropped and lent memory is given half a second to come back before the error is thrown.
    func withRingCollective(
        _ operation: String, count: Int, _ body: (RingRun) throws(CollectiveError) -> Void
    ) throws(CollectiveError) {
        let sequence = nextSequence()
        guard size > 1, count > 0 else { return }
        let deadline = deadline()
        let links = try establishRingLinks(sequence: sequence, deadline: deadline, operation: operation)
        let run = RingRun(
            sequence: sequence, deadline: deadline, operation: operation,
            partition: links.partition(count: count, parts: size, options: options), links: links,
            release: ZeroCopyRelease())
        do throws(CollectiveError) {
            try body(run)
            try links.outbound.flush(run: run)
        } catch {
            links.outbound.abandon()
            _ = run.release.waitUntilReleased(deadline: .after(seconds: 0.5))
            throw error
        }
        try drain(run.release, operation: operation, peer: right, deadline: deadline)
    }
}

extension RingRun {
    /// Sends `range` of `buffer` to the right neighbour as chunk `index`.
    func send(
        _ buffer: UnsafeMutableBufferPointer<Float>, _ range: Range<Int>, kind: WireHeader.Kind, wire: WirePrecision,
        index: Int
    ) throws(CollectiveError) {
        guard let base = buffer.baseAddress else { return }
        try links.outbound.send(
            RingChunk(kind: kind, wire: wire, index: index, elements: range.count), from: base + range.lowerBound,
            run: self)
    }
}
