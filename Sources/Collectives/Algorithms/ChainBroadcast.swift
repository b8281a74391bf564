import Transport

extension Communicator {
    /// Copies `root`'s buffer to every rank. A pipelined chain root → root+1 → … along the ring links: chunks stream
    /// down the chain, each rank copying a chunk out and passing it on (a socket link forwards the received frame
    /// itself), so the time is one buffer transfer plus (N−2) chunk hops rather than log2 N whole-buffer hops. The
    /// ring links are the ones the all-reduce uses: ranks of one host copy through shared memory, not loopback
    /// sockets (a joiner healed by `agreeReplicaState` on the same host gets its state at the shared-memory rate).
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int = 0) throws(CollectiveError) {
        guard (0..<size).contains(root) else {
            _ = nextSequence()
            throw .invalidArgument("rank \(rank): broadcast root \(root) is not a rank of a group of \(size)")
        }
        try withRingCollective("broadcast", count: buffer.count) { run throws(CollectiveError) in
            try chainBroadcast(buffer, root: root, run: run)
        }
    }

    /// The chain: the root sends every chunk to its right neighbour; every other rank receives each chunk from its
    /// left, copies it into place and, unless it ends the chain (root − 1), sends it on.
    private func chainBroadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int, run: RingRun)
        throws(CollectiveError)
    {
        guard let base = buffer.baseAddress else { return }
        let partition = run.links.partition(count: buffer.count, parts: 1, options: options)
        let position = mod(rank - root, size)  // 0 = root, size-1 = end of the chain
        for c in 0..<partition.chunks {
            let range = partition.chunk(0, c)
            if range.isEmpty { continue }
            let dst = base + range.lowerBound
            let chunk = RingChunk(kind: .broadcast, wire: .float32, index: c, elements: range.count)
            if position == 0 {
                try run.links.outbound.send(chunk, from: dst, run: run)
                continue
            }
            let frame = try run.links.inbound.receive(chunk, run: run) { src in
                ReduceKernels.copy(into: dst, from: src, count: range.count)
            }
            guard position < size - 1 else { continue }
            if let frame, try run.links.outbound.forward(frame, as: chunk, run: run) { continue }
            try run.links.outbound.send(chunk, from: dst, run: run)
        }
    }
}
