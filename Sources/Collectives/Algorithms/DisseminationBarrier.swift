import Transport

extension Communicator {
    /// Returns once every rank has entered the barrier. Dissemination barrier (Hensgen, Finkel & Manber):
    /// ⌈log2 N⌉ rounds; in round k each rank signals rank+2ᵏ and waits for rank−2ᵏ. Works for any N.
    public func barrier() throws(CollectiveError) {
        let seq = nextSequence()
        guard size > 1 else { return }
        let deadline = deadline()
        var distance = 1
        var round = 0
        while distance < size {
            let to = (rank + distance) % size
            let from = mod(rank - distance, size)
            try sendFrame(
                to: to, kind: .barrier, dtype: .bytes, sequence: seq, chunk: round, length: 0,
                payload: .empty, operation: "barrier", deadline: deadline)
            _ = try receiveFrame(
                from: from, kind: .barrier, dtype: .bytes, sequence: seq, chunk: round, length: 0,
                operation: "barrier", deadline: deadline)
            distance *= 2
            round += 1
        }
    }
}
