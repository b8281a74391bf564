import Foundation
import Transport

/// Tuning and safety knobs of a data plane. Defaults are the values measured best on the development machine
/// (`cohort bench allreduce`); see the doc comment of each.
public struct CommunicatorOptions: Sendable {
    /// Deadline of a whole collective (and of each point-to-point call), in seconds. A dead or hung peer turns
    /// into a `CollectiveError.peerTimeout` naming it after at most this long.
    public var timeout: Double = 30

    /// Largest payload frame a rank accepts; bigger frames are refused before any allocation.
    public var maxFrameBytes: Int = 256 << 20

    /// Ring all-reduce chunk size: each ring segment travels as chunks of about this many bytes, so the next
    /// chunk is on the wire while this one is reduced.
    public var chunkBytes: Int = 512 << 10

    /// Buffers up to this many bytes use recursive doubling (log2 N exchanges of the whole buffer) instead of
    /// the ring (2(N−1) exchanges of 1/N of it): fewer messages wins while latency dominates. Measured with
    /// `cohort bench allreduce --algorithm ring|recursiveDoubling` (np=2 and 4, tcp): recursive doubling was
    /// faster at 4–256 KiB (np=2: 220 vs 513 µs at 256 KiB), the ring at 1 MiB (965 vs 2057 µs).
    public var smallAllReduceBytes: Int = 256 << 10

    /// Frames at least this large are sent zero-copy from the caller's buffer; smaller ones are copied (a copy is
    /// cheaper than the bookkeeping for small frames).
    public var zeroCopyMinBytes: Int = 32 << 10

    /// Spin this long on a receive before sleeping in zmq_poll (waking a sleeping thread costs tens of µs).
    /// `COHORT_SPIN_US` in the environment sets the default.
    public var spinMicroseconds: Int = getenv("COHORT_SPIN_US").flatMap { Int(String(cString: $0)) } ?? 50

    /// libzmq I/O threads of the data plane's context.
    public var ioThreads: Int = 1

    /// Kernel socket buffer size for tcp/ipc (bytes); -1 = OS default.
    public var kernelBufferBytes: Int32 = -1

    /// Keep freed libzmq message buffers in the heap (glibc mallopt: mmap threshold 32 MiB (its maximum), trim threshold
    /// 512 MiB). libzmq allocates every received frame; with glibc's defaults each ≥128 KiB frame is a fresh
    /// mmap, page-faulted in by the kernel copy and unmapped after the reduce — measured ~1.5× busbw at
    /// 1–16 MiB on np=2 tcp when off (`MALLOC_MMAP_THRESHOLD_` A/B). Process-wide, set once.
    public var tuneAllocator: Bool = true

    /// Ring neighbours on the same host exchange ring chunks through shared memory (`SharedMemoryRing`) instead
    /// of loopback TCP/ipc: one copy instead of three, no I/O thread, no system call while both keep up. Ranks
    /// find out on their first ring collective (a nonce only the same host can read back); neighbours on other
    /// hosts keep the sockets. `COHORT_SHARED_MEMORY=0` in the environment turns it off (as NCCL_SHM_DISABLE).
    public var sharedMemory: Bool = getenv("COHORT_SHARED_MEMORY").map { String(cString: $0) != "0" } ?? true

    /// Chunk size of ring collectives when every link of the ring is shared memory. Smaller than `chunkBytes`:
    /// a chunk that stays in L2 while it is copied and reduced leaves the compute threads' caches alone. W2 with
    /// 2 workers (`bench scaling`), alternating 4 rounds: 256 KiB median 9765 samples/s, 512 KiB 9566; a first
    /// sweep (chunk and slot size together, 3 rounds each) gave 128 KiB 10215, 256 KiB 10242, 512 KiB 9966,
    /// 2048 KiB 9939, and 64 KiB 8753 (too many hand-offs). Near the noise. `COHORT_SHM_CHUNK_KB` sets the default.
    public var sharedMemoryChunkBytes: Int =
        getenv("COHORT_SHM_CHUNK_KB").flatMap { Int(String(cString: $0)) }.map { max(1, $0) << 10 } ?? 256 << 10

    /// Slots per shared-memory ring (each `chunkBytes` long): chunks the sender may run ahead of the receiver.
    public var sharedMemorySlots: Int = 8

    /// CURVE encryption and authentication of the data plane; nil = plain.
    public var curve: CurveSecurity? = nil

    /// With `curve` nil: the job's token, which every data-plane connection must present (PLAIN); nil = none.
    public var token: JobToken? = nil

    public init() {}

    /// With more ranks than cores on this host, a spinning rank keeps the core from the very peer it waits for:
    /// sleep at once instead (W2, 4 workers on 2 cores: 7154 vs 6691 samples/s; 4 KiB all-reduce over shared
    /// memory at np=4: 97 vs 259 µs). `COHORT_SPIN_US` in the environment wins.
    public mutating func adaptSpin(ranksOnHost: Int, cores: Int = ProcessInfo.processInfo.activeProcessorCount) {
        if ranksOnHost > cores, getenv("COHORT_SPIN_US") == nil { spinMicroseconds = 0 }
    }
}
