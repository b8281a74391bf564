import Transport

extension Communicator {
    /// Gathers every rank's `input` into `output` in rank order (`output.count == input.count * size`), over
    /// the ring: each rank forwards what it received from its left while copying it out.
    public func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>)
        throws(CollectiveError)
    {
        let seq = nextSequence()
        guard output.count == input.count * size else {
            throw .invalidArgument(
                "rank \(rank): allgather output has \(output.count) elements, expected \(input.count) × \(size)")
        }
        if input.count > 0 {
            (output.baseAddress! + rank * input.count).update(from: input.baseAddress!, count: input.count)
        }
        guard size > 1, input.count > 0 else { return }
        let deadline = deadline()
        let release = ZeroCopyRelease()
        let partition = try ringPartition(count: output.count, sequence: seq, deadline: deadline, operation: "allgather")
        do {
            try ringAllGather(
                output, wire: .float32, sequence: seq, partition: partition, release: release,
                deadline: deadline, operation: "allgather", sendOwnFirst: true)
            try flushRingSends(operation: "allgather", deadline: deadline)
        } catch {
            ringLinks?.dropPending()
            _ = release.waitUntilReleased(deadline: .after(seconds: 0.5))
            throw error
        }
        try drain(release, operation: "allgather", peer: right, deadline: deadline)
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
}
