import Transport

extension Communicator {
    /// Gathers every rank's `input` into `output` in rank order (`output.count == input.count * size`), over
    /// the ring: each rank forwards what it received from its left while copying it out.
    public func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>)
        throws(CollectiveError)
    {
        guard output.count == input.count * size else {
            _ = nextSequence()
            throw .invalidArgument(
                "rank \(rank): allgather output has \(output.count) elements, expected \(input.count) × \(size)")
        }
        if let from = input.baseAddress, let to = output.baseAddress {
            (to + rank * input.count).update(from: from, count: input.count)
        }
        try withRingCollective("allgather", count: output.count) { run throws(CollectiveError) in
            try ringAllGather(output, wire: .float32, run: run, sendOwnFirst: true)
        }
    }

    public func allGather(_ input: [Float]) throws(CollectiveError) -> [Float] {
        var out = [Float](repeating: 0, count: input.count * size)
        let result: Result<Void, CollectiveError> = input.withUnsafeBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                do throws(CollectiveError) {
                    try allGather(i, into: o)
                    return .success(())
                } catch { return .failure(error) }
            }
        }
        try result.get()
        return out
    }

    /// All-gather along the ring. Step k: send segment r−k, receive segment r−k−1, copy it into place and send it
    /// on: as the received frame itself where the outbound link can (no copy), else from the buffer.
    func ringAllGather(
        _ buffer: UnsafeMutableBufferPointer<Float>, wire: WirePrecision, run: RingRun, sendOwnFirst: Bool
    ) throws(CollectiveError) {
        let (n, r, C) = (size, rank, run.partition.chunks)
        guard let base = buffer.baseAddress else { return }
        if sendOwnFirst {
            for c in 0..<C {
                let range = run.partition.chunk(r, c)
                if range.isEmpty { continue }
                ReduceKernels.quantize(base + range.lowerBound, count: range.count, wire: wire)
                try run.send(buffer, range, kind: .gather, wire: wire, index: c)
            }
        }
        for k in 0..<(n - 1) {
            for c in 0..<C {
                let range = run.partition.chunk(mod(r - k - 1, n), c)
                if range.isEmpty { continue }
                let dst = base + range.lowerBound
                let chunk = RingChunk(kind: .gather, wire: wire, index: k * C + c, elements: range.count)
                let frame = try run.links.inbound.receive(chunk, run: run) { src in
                    ReduceKernels.copy(into: dst, fromWire: src, count: range.count, wire: wire)
                }
                guard k < n - 2 else { continue }
                let next = RingChunk(kind: .gather, wire: wire, index: (k + 1) * C + c, elements: range.count)
                if let frame, try run.links.outbound.forward(frame, as: next, run: run) { continue }
                try run.links.outbound.send(next, from: dst, run: run)
            }
        }
    }
}
