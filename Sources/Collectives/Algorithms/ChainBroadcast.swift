import Transport

extension Communicator {
    /// Copies `root`'s buffer to every rank. A pipelined chain root → root+1 → … : chunks stream down the chain,
    /// each rank forwarding a chunk (libzmq reference, no copy) before copying it out, so the time is one buffer
    /// transfer plus (N−2) chunk hops rather than log2 N whole-buffer hops.
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int = 0) throws(CollectiveError) {
        let seq = nextSequence()
        guard (0..<size).contains(root) else {
            throw .invalidArgument("rank \(rank): broadcast root \(root) is not a rank of a group of \(size)")
        }
        guard size > 1, buffer.count > 0 else { return }
        let deadline = deadline()
        let release = ZeroCopyRelease()
        let operation = "broadcast"
        let partition = RingPartition(count: buffer.count, parts: 1, chunkElements: max(1, options.chunkBytes / 4))
        let position = mod(rank - root, size)  // 0 = root, size-1 = end of the chain
        let isLast = position == size - 1
        do throws(CollectiveError) {
            for c in 0..<partition.chunks {
                let range = partition.chunk(0, c)
                if range.isEmpty { continue }
                let bytes = range.count * 4
                if position == 0 {
                    try sendBytes(
                        to: right, kind: .broadcast, dtype: .float32, sequence: seq, chunk: c,
                        bytes: UnsafeRawBufferPointer(start: buffer.baseAddress! + range.lowerBound, count: bytes),
                        release: release, operation: operation, deadline: deadline)
                } else {
                    let m = try receiveFrame(
                        from: left, kind: .broadcast, dtype: .float32, sequence: seq, chunk: c,
                        length: bytes, operation: operation, deadline: deadline)
                    if !isLast {
                        try forwardFrame(
                            m, to: right, kind: .broadcast, dtype: .float32, sequence: seq, chunk: c, length: bytes,
                            operation: operation, deadline: deadline)
                    }
                    m.withBytes {
                        ReduceKernels.copy(
                            into: buffer.baseAddress! + range.lowerBound, from: $0.baseAddress!, count: range.count)
                    }
                }
            }
        } catch {
            _ = release.waitUntilReleased(deadline: .after(seconds: 0.5))
            throw error
        }
        try drain(release, operation: operation, peer: right, deadline: deadline)
    }
}
