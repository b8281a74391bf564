import Transport

/// One chunk of a ring collective as both ends know it from the same plan: the sender stamps it on the frame, the
/// receiver checks the frame against it.
struct RingChunk {
    let kind: WireHeader.Kind
    let wire: WirePrecision
    let index: Int
    let elements: Int

    var bytes: Int { elements * wire.bytesPerElement }
}

/// What one run of a ring collective shares between its algorithm and its links.
struct RingRun {
    let sequence: UInt64
    let deadline: Deadline
    let operation: String
    let partition: RingPartition
    let links: RingLinks
    /// The zero-copy sends lent from the caller's buffer, drained before the collective returns.
    let release: ZeroCopyRelease
}

/// The link a rank sends its ring chunks on, to its right neighbour. The ring algorithms are written against this
/// and `RingInboundLink` only, as gloo's ring is written against `transport::Pair`: whether a chunk travels through
/// a socket or a shared-memory ring is decided once, when the communicator negotiates its links.
///
/// A send never blocks the algorithm: the ring algorithms send a whole segment's chunks before receiving any, and a
/// bounded link that blocked there would deadlock every rank. A link that cannot take a chunk now queues it; the
/// caller leaves the chunk's memory alone until the collective ends, as for a zero-copy libzmq send.
protocol RingOutboundLink: AnyObject {
    var isSharedMemory: Bool { get }
    /// Whether chunks wait in this link's queue.
    var hasQueued: Bool { get }
    /// Sends `chunk.elements` floats from `source`, in the chunk's wire precision.
    func send(_ chunk: RingChunk, from source: UnsafePointer<Float>, run: RingRun) throws(CollectiveError)
    /// Sends a frame received from the left neighbour on as it is, where this link can do so without a copy;
    /// false where it cannot (the caller then sends the chunk from its buffer).
    func forward(_ frame: Message, as chunk: RingChunk, run: RingRun) throws(CollectiveError) -> Bool
    /// Moves queued chunks on without waiting; whether some are still queued.
    @discardableResult func progress() -> Bool
    /// Waits until every queued chunk has left (the right neighbour is receiving meanwhile).
    func flush(run: RingRun) throws(CollectiveError)
    /// After a failed collective: queued chunks will never be wanted, and their memory goes back to the caller.
    func abandon()
}

/// The link a rank receives ring chunks on, from its left neighbour.
protocol RingInboundLink: AnyObject {
    var isSharedMemory: Bool { get }
    /// Receives the next chunk, checks that it is `chunk`, and hands its payload to `body` in place (to reduce or
    /// copy it out). Returns the received frame where there is one, so that the caller may forward it as it is.
    @discardableResult
    func receive(_ chunk: RingChunk, run: RingRun, _ body: (UnsafeRawPointer) -> Void) throws(CollectiveError)
        -> Message?
}

/// A communicator's two ring links, negotiated on its first ring collective.
final class RingLinks {
    let outbound: RingOutboundLink
    let inbound: RingInboundLink
    /// Every link of the ring is shared memory (all ranks agree on this): then even small all-reduces take the
    /// ring, whose 2(N−1) steps cost well under a microsecond each, instead of recursive doubling's socket frames.
    var everyLinkShared = false

    init(outbound: RingOutboundLink, inbound: RingInboundLink) {
        self.outbound = outbound
        self.inbound = inbound
    }

    /// The partition of `count` elements: chunks of `sharedMemoryChunkBytes` when every link is shared memory,
    /// else of `chunkBytes`.
    func partition(count: Int, parts: Int, options: CommunicatorOptions) -> RingPartition {
        let bytes = everyLinkShared ? options.sharedMemoryChunkBytes : options.chunkBytes
        return RingPartition(count: count, parts: parts, chunkElements: max(1, bytes / 4))
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

    var bytesPerElement: Int { self == .float32 ? 4 : 2 }
}
