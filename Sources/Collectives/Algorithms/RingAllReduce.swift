import Transport

/// Ring all-reduce (Patarasuk & Yuan; the algorithm of Horovod, gloo's ring and MLX's ring backend):
/// a reduce-scatter, after which rank r owns the fully reduced segment r, then an all-gather that passes the
/// owned segments around the ring. Each rank sends and receives 2(N−1)/N of the buffer: bandwidth-optimal.
///
/// Pipelining: segments travel as chunks; a chunk is forwarded to the right neighbour as soon as it is reduced,
/// while the link is still carrying the previous one and the next is arriving, so sending, receiving and reducing
/// overlap (all chunks of the first step are in flight at once).
///
/// Determinism: segment s is reduced along the ring in a fixed order starting at rank s+1 and ending at its owner
/// s; the all-gather copies the owner's bits to everyone. Every rank ends with bitwise identical values.
extension Communicator {
    func ringAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp, wire: WirePrecision) throws(CollectiveError) {
        try withRingCollective("allreduce", count: buffer.count) { run throws(CollectiveError) in
            try ringReduceScatter(buffer, op: op, wire: wire, run: run, gatherAfter: true)
            try ringAllGather(buffer, wire: wire, run: run, sendOwnFirst: false)
        }
    }
}
