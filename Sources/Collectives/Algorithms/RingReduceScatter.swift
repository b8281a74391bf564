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
        try withRingCollective("reducescatter", count: buffer.count) { run throws(CollectiveError) in
            try ringReduceScatter(buffer, op: op, wire: wire, run: run, gatherAfter: false)
        }
        return reduceScatterRange(count: buffer.count, rank: rank)
    }

    /// Reduce-scatter along the ring. Step k: send segment r−k−1, receive segment r−k−2 and add it in; after
    /// N−1 steps rank r holds the reduced segment r. With `gatherAfter`, each finished chunk of segment r leaves
    /// at once as the all-gather's first step.
    func ringReduceScatter(
        _ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp, wire: WirePrecision, run: RingRun,
        gatherAfter: Bool
    ) throws(CollectiveError) {
        let (n, r, C) = (size, rank, run.partition.chunks)
        guard let base = buffer.baseAddress else { return }
        for c in 0..<C {
            let range = run.partition.chunk(mod(r - 1, n), c)
            if !range.isEmpty { try run.send(buffer, range, kind: .reduce, wire: wire, index: c) }
        }
        for k in 0..<(n - 1) {
            let last = k == n - 2
            let average = last && op == .average
            for c in 0..<C {
                let range = run.partition.chunk(mod(r - k - 2, n), c)
                if range.isEmpty { continue }
                let dst = base + range.lowerBound
                let chunk = RingChunk(kind: .reduce, wire: wire, index: k * C + c, elements: range.count)
                try run.links.inbound.receive(chunk, run: run) { src in
                    if average {
                        ReduceKernels.addAndDivide(into: dst, fromWire: src, count: range.count, wire: wire, divisor: Float(n))
                    } else {
                        ReduceKernels.add(into: dst, fromWire: src, count: range.count, wire: wire)
                    }
                }
                if !last {
                    try run.send(buffer, range, kind: .reduce, wire: wire, index: (k + 1) * C + c)
                } else if gatherAfter {
                    // The owner keeps exactly what its peers will receive.
                    ReduceKernels.quantize(dst, count: range.count, wire: wire)
                    try run.send(buffer, range, kind: .gather, wire: wire, index: c)
                }
            }
        }
    }
}
