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
        let sequence = nextSequence()
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        var run = RecursiveDoublingRun(
            communicator: self, base: base, count: buffer.count, wire: wire, sequence: sequence, deadline: deadline())
        let plan = RecursiveDoublingPlan(rank: rank, size: size)
        try run.fold(plan)
        if let newRank = plan.newRank {
            try run.double(plan, newRank: newRank)
            // Every participating rank has the same sum; divide identically, then hand it to the folded ranks.
            if op == .average { ReduceKernels.divide(base, count: buffer.count, divisor: Float(size)) }
        }
        try run.unfold(plan)
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
            let m = try encodedMessage(base, count: count, wire: wire, peer: peer, operation: operation)
            try sendFrame(
                to: peer, kind: .reduce, dtype: wire.dtype, sequence: sequence, chunk: chunk, length: count * 2,
                payload: .message(m), operation: operation, deadline: deadline)
        }
    }
}

/// Who talks to whom: with p the largest power of two ≤ N and e = N − p extra ranks, the first 2e ranks fold in
/// pairs (even into odd), and the p remaining ranks double with new ranks 0..<p.
struct RecursiveDoublingPlan {
    let rank: Int
    let powerOfTwo: Int
    let extra: Int

    init(rank: Int, size: Int) {
        var p = 1
        while p * 2 <= size { p *= 2 }
        self.rank = rank
        powerOfTwo = p
        extra = size - p
    }

    var isFolded: Bool { rank < 2 * extra }
    /// This rank's place among the doubling ranks, nil for an even rank that hands its buffer over and sits out.
    var newRank: Int? { isFolded ? (rank % 2 == 1 ? rank / 2 : nil) : rank - extra }
    /// The group rank of doubling partner `newRank ^ mask`.
    func partner(newRank: Int, mask: Int) -> Int {
        let p = newRank ^ mask
        return p < extra ? p * 2 + 1 : p + extra
    }
}

/// One recursive-doubling all-reduce: whole-buffer exchanges with partners, each numbered by its step.
struct RecursiveDoublingRun {
    let communicator: Communicator
    let base: UnsafeMutablePointer<Float>
    let count: Int
    let wire: WirePrecision
    let sequence: UInt64
    let deadline: Deadline
    var step = 0

    /// The extra ranks hand their buffers to their odd neighbours, which add them in.
    mutating func fold(_ plan: RecursiveDoublingPlan) throws(CollectiveError) {
        defer { step = 1 }
        guard plan.isFolded else { return }
        if plan.rank % 2 == 0 {
            try send(to: plan.rank + 1)
        } else {
            let m = try receive(from: plan.rank - 1)
            ReduceKernels.quantize(base, count: count, wire: wire)
            add(m)
        }
    }

    /// log2(p) rounds: send the whole buffer to the partner, add the partner's.
    mutating func double(_ plan: RecursiveDoublingPlan, newRank: Int) throws(CollectiveError) {
        var mask = 1
        while mask < plan.powerOfTwo {
            let partner = plan.partner(newRank: newRank, mask: mask)
            try send(to: partner)
            add(try receive(from: partner))
            step += 1
            mask <<= 1
        }
    }

    /// The odd ranks hand the result back to the even ranks that sat out.
    mutating func unfold(_ plan: RecursiveDoublingPlan) throws(CollectiveError) {
        step = 100
        guard plan.isFolded else {
            if wire != .float32 { ReduceKernels.quantize(base, count: count, wire: wire) }
            return
        }
        if plan.rank % 2 == 1 {
            try send(to: plan.rank - 1)
        } else {
            let m = try receive(from: plan.rank + 1)
            m.withBytes { b in
                if let src = b.baseAddress { ReduceKernels.copy(into: base, fromWire: src, count: count, wire: wire) }
            }
        }
    }

    private func send(to peer: Int) throws(CollectiveError) {
        ReduceKernels.quantize(base, count: count, wire: wire)
        try communicator.sendCopy(
            to: peer, sequence: sequence, chunk: step, wire: wire, base: base, count: count, operation: "allreduce",
            deadline: deadline)
    }

    private func receive(from peer: Int) throws(CollectiveError) -> Message {
        try communicator.receiveFrame(
            from: peer, kind: .reduce, dtype: wire.dtype, sequence: sequence, chunk: step,
            length: count * wire.bytesPerElement, operation: "allreduce", deadline: deadline)
    }

    private func add(_ m: Message) {
        m.withBytes { b in
            if let src = b.baseAddress { ReduceKernels.add(into: base, fromWire: src, count: count, wire: wire) }
        }
    }
}
