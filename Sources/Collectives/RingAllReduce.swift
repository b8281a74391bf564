import Transport

/// Ring all-reduce (Patarasuk & Yuan; the algorithm of Horovod, gloo's ring and MLX's ring backend):
/// a reduce-scatter, after which rank r owns the fully reduced segment r, then an all-gather that passes the
/// owned segments around the ring. Each rank sends and receives 2(N−1)/N of the buffer: bandwidth-optimal.
///
/// Pipelining: segments travel as chunks; a chunk is forwarded to the right neighbour as soon as it is reduced,
/// while libzmq's I/O thread is still writing the previous one and the next is arriving, so sending, receiving
/// and reducing overlap (all chunks of the first step are in flight at once).
///
/// Determinism: segment s is reduced along the ring in a fixed order starting at rank s+1 and ending at its owner
/// s; the all-gather copies the owner's bits to everyone. Every rank ends with bitwise identical values.
extension Communicator {
    func ringAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp, wire: WirePrecision) throws(CollectiveError) {
        let seq = nextSequence()
        guard size > 1, buffer.count > 0 else { return }
        let deadline = deadline()
        let release = ZeroCopyRelease()
        let partition = try ringPartition(count: buffer.count, sequence: seq, deadline: deadline, operation: "allreduce")
        do {
            try ringReduceScatter(
                buffer, op: op, wire: wire, sequence: seq, partition: partition, release: release,
                deadline: deadline, operation: "allreduce", gatherAfter: true)
            try ringAllGather(
                buffer, wire: wire, sequence: seq, partition: partition, release: release,
                deadline: deadline, operation: "allreduce", sendOwnFirst: false)
            try flushRingSends(operation: "allreduce", deadline: deadline)
        } catch {
            ringLinks?.dropPending()
            _ = release.waitUntilReleased(deadline: .after(seconds: 0.5))
            throw error
        }
        try drain(release, operation: "allreduce", peer: right, deadline: deadline)
    }

    /// Sends chunk `c` of segment `segment` to the right neighbour in the wire precision.
    func sendChunk(
        _ buffer: UnsafeMutableBufferPointer<Float>, _ range: Range<Int>, kind: WireHeader.Kind, wire: WirePrecision,
        sequence: UInt64, index: Int, release: ZeroCopyRelease, deadline: Deadline, operation: String
    ) throws(CollectiveError) {
        let base = buffer.baseAddress! + range.lowerBound
        if let links = ringLinks, let ring = links.outbound {
            try sendThroughRing(
                links, ring, kind: kind, dtype: wire.dtype, sequence: sequence, chunk: index,
                length: range.count * (wire == .float32 ? 4 : 2), operation: operation
            ) { slot in
                if wire == .float32 {
                    slot.copyMemory(from: base, byteCount: range.count * 4)
                } else {
                    ReduceKernels.encode(base, count: range.count, as: wire, into: slot)
                }
            }
            return
        }
        if wire == .float32 {
            try sendBytes(
                to: right, kind: kind, dtype: .float32, sequence: sequence, chunk: index,
                bytes: UnsafeRawBufferPointer(start: base, count: range.count * 4), release: release,
                operation: operation, deadline: deadline)
        } else {
            let m: Message
            do { m = try Message(size: range.count * 2) } catch {
                throw .transport(
                    operation: operation, me: rank, peer: right, endpoint: endpoint(of: right), error: error as! TransportError)
            }
            m.withMutableBytes { ReduceKernels.encode(base, count: range.count, as: wire, into: $0.baseAddress!) }
            try sendFrame(
                to: right, kind: kind, dtype: wire.dtype, sequence: sequence, chunk: index, length: range.count * 2,
                payload: .message(m), operation: operation, deadline: deadline)
        }
    }

    /// Reduce-scatter along the ring. Step k: send segment r−k−1, receive segment r−k−2 and add it in; after
    /// N−1 steps rank r holds the reduced segment r. With `gatherAfter`, each finished chunk of segment r leaves
    /// at once as the all-gather's first step.
    func ringReduceScatter(
        _ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp, wire: WirePrecision, sequence: UInt64,
        partition: RingPartition, release: ZeroCopyRelease, deadline: Deadline, operation: String,
        gatherAfter: Bool
    ) throws(CollectiveError) {
        let n = size
        let r = rank
        let C = partition.chunks
        let dtype = wire.dtype
        let esize = wire == .float32 ? 4 : 2
        for c in 0..<C {
            let range = partition.chunk(mod(r - 1, n), c)
            if range.isEmpty { continue }
            try sendChunk(
                buffer, range, kind: .reduce, wire: wire, sequence: sequence, index: c, release: release,
                deadline: deadline, operation: operation)
        }
        for k in 0..<(n - 1) {
            let seg = mod(r - k - 2, n)
            let last = k == n - 2
            for c in 0..<C {
                let range = partition.chunk(seg, c)
                if range.isEmpty { continue }
                let dst = buffer.baseAddress! + range.lowerBound
                try receiveRingChunk(
                    kind: .reduce, dtype: dtype, sequence: sequence, chunk: k * C + c, length: range.count * esize,
                    operation: operation, deadline: deadline
                ) { src in
                    if last && op == .average {
                        ReduceKernels.addAndDivide(into: dst, fromWire: src, count: range.count, wire: wire, divisor: Float(n))
                    } else {
                        ReduceKernels.add(into: dst, fromWire: src, count: range.count, wire: wire)
                    }
                }
                if !last {
                    try sendChunk(
                        buffer, range, kind: .reduce, wire: wire, sequence: sequence, index: (k + 1) * C + c,
                        release: release, deadline: deadline, operation: operation)
                } else if gatherAfter {
                    // The owner keeps exactly what its peers will receive.
                    ReduceKernels.quantize(dst, count: range.count, wire: wire)
                    try sendChunk(
                        buffer, range, kind: .gather, wire: wire, sequence: sequence, index: c,
                        release: release, deadline: deadline, operation: operation)
                }
            }
        }
    }

    /// All-gather along the ring. Step k: send segment r−k, receive segment r−k−1. Received frames are forwarded
    /// as they are (libzmq reference counting, no copy) before being copied into the buffer.
    func ringAllGather(
        _ buffer: UnsafeMutableBufferPointer<Float>, wire: WirePrecision, sequence: UInt64, partition: RingPartition,
        release: ZeroCopyRelease, deadline: Deadline, operation: String, sendOwnFirst: Bool
    ) throws(CollectiveError) {
        let n = size
        let r = rank
        let C = partition.chunks
        let dtype = wire.dtype
        let esize = wire == .float32 ? 4 : 2
        let viaSharedMemory = ringLinks?.inbound != nil || ringLinks?.outbound != nil
        if sendOwnFirst {
            for c in 0..<C {
                let range = partition.chunk(r, c)
                if range.isEmpty { continue }
                ReduceKernels.quantize(buffer.baseAddress! + range.lowerBound, count: range.count, wire: wire)
                try sendChunk(
                    buffer, range, kind: .gather, wire: wire, sequence: sequence, index: c, release: release,
                    deadline: deadline, operation: operation)
            }
        }
        for k in 0..<(n - 1) {
            let seg = mod(r - k - 1, n)
            for c in 0..<C {
                let range = partition.chunk(seg, c)
                if range.isEmpty { continue }
                if viaSharedMemory {
                    // Into place, then on from there: a shared-memory slot goes back to the left neighbour at once
                    // instead of waiting for the right neighbour to take the chunk, and a chunk bound for a
                    // shared-memory ring must be written into it anyway.
                    let dst = buffer.baseAddress! + range.lowerBound
                    try receiveRingChunk(
                        kind: .gather, dtype: dtype, sequence: sequence, chunk: k * C + c, length: range.count * esize,
                        operation: operation, deadline: deadline
                    ) { src in
                        ReduceKernels.copy(into: dst, fromWire: src, count: range.count, wire: wire)
                    }
                    if k < n - 2 {
                        try sendChunk(
                            buffer, range, kind: .gather, wire: wire, sequence: sequence, index: (k + 1) * C + c,
                            release: release, deadline: deadline, operation: operation)
                    }
                    continue
                }
                let m = try receiveFrame(
                    from: left, kind: .gather, dtype: dtype, sequence: sequence, chunk: k * C + c,
                    length: range.count * esize, operation: operation, deadline: deadline)
                if k < n - 2 {
                    let forward: Message
                    do { forward = try m.shared() } catch {
                        throw .transport(
                            operation: operation, me: rank, peer: right, endpoint: endpoint(of: right),
                            error: error as! TransportError)
                    }
                    try sendFrame(
                        to: right, kind: .gather, dtype: dtype, sequence: sequence, chunk: (k + 1) * C + c,
                        length: range.count * esize, payload: .message(forward), operation: operation, deadline: deadline)
                }
                m.withBytes {
                    ReduceKernels.copy(
                        into: buffer.baseAddress! + range.lowerBound, fromWire: $0.baseAddress!, count: range.count, wire: wire)
                }
            }
        }
    }
}

extension WirePrecision {
    var dtype: WireHeader.DType {
        switch self {
        case .float32: return .float32
        case .bfloat16: return .bfloat16
        case .float16: return .float16
        }
    }
}
