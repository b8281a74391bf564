import Transport

/// Recursive-doubling all-reduce for small buffers (Thakur, Rabenseifner & Gropp 2005): log2(p) rounds in which
/// partners exchange the whole buffer and both add, instead of the ring's 2(N−1) latency-bound steps.
///
/// Non-power-of-two sizes: with p the largest power of two ≤ N and e = N − p, the first 2e ranks pair up; each
/// even one hands its buffer to its odd neighbour and sits out, the remaining p ranks double, and the odd ranks
/// hand the result back.
///
/// Determinism: partners compute the same sum (lower rank's value + higher rank's value; addition is
/// commutative, so both get the same bits), so after every round all ranks in a block hold identical values.
/// With a reduced-precision wire each rank first rounds its own value to the wire type, so partners add the
/// same two numbers.
extension Communicator {
    func recursiveDoublingAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp, wire: WirePrecision)
        throws(CollectiveError)
    {
        let seq = nextSequence()
        guard size > 1, buffer.count > 0 else { return }
        let deadline = deadline()
        let operation = "allreduce"
        let n = size
        let r = rank
        let count = buffer.count
        var p = 1
        while p * 2 <= n { p *= 2 }
        let extra = n - p
        let esize = wire == .float32 ? 4 : 2
        let base = buffer.baseAddress!
        var step = 0

        func exchange(with peer: Int, send: Bool, receive: Bool) throws(CollectiveError) -> Message? {
            if send {
                ReduceKernels.quantize(base, count: count, wire: wire)
                try sendCopy(
                    to: peer, sequence: seq, chunk: step, wire: wire, base: base, count: count,
                    operation: operation, deadline: deadline)
            }
            var m: Message? = nil
            if receive {
                m = try receiveFrame(
                    from: peer, kind: .reduce, dtype: wire.dtype, sequence: seq, chunk: step,
                    length: count * esize, operation: operation, deadline: deadline)
            }
            step += 1
            return m
        }

        // Fold the extra ranks into their odd neighbours.
        var newRank = -1
        if r < 2 * extra {
            if r % 2 == 0 {
                _ = try exchange(with: r + 1, send: true, receive: false)
            } else {
                let m = try exchange(with: r - 1, send: false, receive: true)!
                ReduceKernels.quantize(base, count: count, wire: wire)
                m.withBytes { ReduceKernels.add(into: base, fromWire: $0.baseAddress!, count: count, wire: wire) }
                newRank = r / 2
            }
        } else {
            step += 1
            newRank = r - extra
        }
        if newRank >= 0 {
            var mask = 1
            while mask < p {
                let partnerNew = newRank ^ mask
                let partner = partnerNew < extra ? partnerNew * 2 + 1 : partnerNew + extra
                let m = try exchange(with: partner, send: true, receive: true)!
                m.withBytes { ReduceKernels.add(into: base, fromWire: $0.baseAddress!, count: count, wire: wire) }
                mask <<= 1
            }
        }
        // Every participating rank has the same sum; divide identically, then hand it to the folded ranks.
        step = 100
        if newRank >= 0 && op == .average { ReduceKernels.divide(base, count: count, divisor: Float(n)) }
        if r < 2 * extra {
            if r % 2 == 1 {
                _ = try exchange(with: r - 1, send: true, receive: false)
            } else {
                let m = try exchange(with: r + 1, send: false, receive: true)!
                m.withBytes { ReduceKernels.copy(into: base, fromWire: $0.baseAddress!, count: count, wire: wire) }
            }
        } else if wire != .float32 {
            ReduceKernels.quantize(base, count: count, wire: wire)
        }
    }

    /// Sends `count` floats as a copied frame (small buffers: a copy is cheaper than waiting for a zero-copy release).
    func sendCopy(
        to peer: Int, sequence: UInt64, chunk: Int, wire: WirePrecision, base: UnsafeMutablePointer<Float>, count: Int,
        operation: String, deadline: Deadline
    ) throws(CollectiveError) {
        if wire == .float32 {
            try sendFrame(
                to: peer, kind: .reduce, dtype: .float32, sequence: sequence, chunk: chunk, length: count * 4,
                payload: .copy(UnsafeRawBufferPointer(start: base, count: count * 4)), operation: operation, deadline: deadline)
        } else {
            let m: Message
            do { m = try Message(size: count * 2) } catch {
                throw .transport(
                    operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer), error: error as! TransportError)
            }
            m.withMutableBytes { ReduceKernels.encode(base, count: count, as: wire, into: $0.baseAddress!) }
            try sendFrame(
                to: peer, kind: .reduce, dtype: wire.dtype, sequence: sequence, chunk: chunk, length: count * 2,
                payload: .message(m), operation: operation, deadline: deadline)
        }
    }
}
