import CSharedMemory

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-way ring of fixed-size slots in a shared-memory file, from one process (the sender) to another on the
/// same host (the receiver): the same-host data path of the collectives, as NCCL's SHM transport or Open MPI's
/// vader BTL. Over loopback TCP each byte is copied twice by the kernel and once more by libzmq, and an I/O
/// thread wakes for every frame; here the sender copies a chunk into a slot once and the receiver reduces
/// straight out of it, with no system call at all while both sides keep up (a futex only when one must sleep).
///
/// Layout (byte offsets; the two counters on cache lines of their own so the sides don't false-share):
///
///     0    magic u64 "CHRTSHM1"    64   tail u32: slots published by the sender     68  receiver sleeping u32
///     8    nonce u64               128  head u32: slots released by the receiver    132 sender sleeping u32
///     16   slot count u32          192  closed u32 (either side is gone)
///     20   slot bytes u32          256  slots: count × (64 bytes for a `WireHeader` + slot bytes of payload)
///     24   receiver pid i32
///     28   sender pid i32
///
/// The receiver creates the file and sends its path and nonce to the sender over the network; the sender maps
/// it only if the nonce matches, which proves both see the same memory (so the same host), and the receiver
/// unlinks the name at once, leaving nothing in /dev/shm once the processes end. The file is 0600: only the
/// same user's processes can map it, which keeps the data plane as private as the CURVE-secured sockets.
///
/// Liveness: a wait sleeps in slices of at most 20 ms and checks the deadline and whether the peer process
/// still exists, so a killed peer is reported within a slice, and a hung one by the caller's deadline.
public final class SharedMemoryRing: @unchecked Sendable {
    public enum Role: Sendable { case receiver, sender }

    public let role: Role
    /// Where the file was created (its name is gone once `unlinkName` ran): for messages. Empty for a ring made
    /// ahead (`createUnnamed`) until `publishName` names it.
    public private(set) var path: String
    public let nonce: UInt64
    public let slotCount: Int
    public let slotBytes: Int
    /// How long a side spins before it sleeps on the futex.
    public var spinNanoseconds: UInt64 = 20_000
    /// Asked between sleeps (at most 20 ms apart): a reason ends the wait as a closed link. Elastic training sets
    /// it so that a new membership pulls a survivor out of a wait on a ring whose other side is blocked elsewhere.
    public var interruption: (@Sendable () -> String?)?

    private let base: UnsafeMutableRawPointer
    private let mappedBytes: Int
    private var ownCounter: UInt32 = 0  // tail for the sender, head for the receiver
    private var linked: Bool
    /// A ring made ahead keeps its file open until `publishName` names it (-1 otherwise).
    private var unnamedFile: Int32 = -1
    private let directory: String

    static let magic: UInt64 = 0x3148_534D_5452_4843  // "CHRTSHM1" in memory order
    static let headerBytes = 256
    static let slotHeaderBytes = 64

    /// Whether this platform has the futexes the ring sleeps on (Linux).
    public static var isSupported: Bool { cohort_shm_supported() != 0 }

    private var tail: UnsafeMutablePointer<UInt32> { (base + 64).assumingMemoryBound(to: UInt32.self) }
    private var receiverSleeping: UnsafeMutablePointer<UInt32> { (base + 68).assumingMemoryBound(to: UInt32.self) }
    private var head: UnsafeMutablePointer<UInt32> { (base + 128).assumingMemoryBound(to: UInt32.self) }
    private var senderSleeping: UnsafeMutablePointer<UInt32> { (base + 132).assumingMemoryBound(to: UInt32.self) }
    private var closedFlag: UnsafeMutablePointer<UInt32> { (base + 192).assumingMemoryBound(to: UInt32.self) }
    private var peerPid: pid_t { base.load(fromByteOffset: role == .receiver ? 28 : 24, as: Int32.self) }

    private init(
        role: Role, path: String, nonce: UInt64, slotCount: Int, slotBytes: Int, base: UnsafeMutableRawPointer,
        mappedBytes: Int, directory: String = "/dev/shm"
    ) {
        self.role = role
        self.path = path
        self.directory = directory
        self.nonce = nonce
        self.slotCount = slotCount
        self.slotBytes = slotBytes
        self.base = base
        self.mappedBytes = mappedBytes
        linked = role == .receiver
    }

    deinit {
        markClosed()
        if linked { unlink(path) }
        if unnamedFile >= 0 { close(unnamedFile) }
        munmap(base, mappedBytes)
    }

    /// Maps the first `bytesPerSlot` bytes of every slot (and the slot headers) writable now, so the first
    /// collectives through a ring just opened don't take a page fault per page: a new membership's first step
    /// ran 0.3 ms slower from them. From any thread, while the ring is in use; best effort.
    public func prefault(bytesPerSlot: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let used = Self.slotHeaderBytes + min(max(bytesPerSlot, 0), slotBytes)
        for i in 0..<slotCount {
            let start = Self.headerBytes + i * (Self.slotHeaderBytes + slotBytes)
            let aligned = start / page * page
            let end = min(start + used, mappedBytes)
            _ = cohort_shm_populate_write(base + aligned, end - aligned)
        }
    }

    /// From any thread: tells the other side this end is gone, as if this process had ended: its waits on the
    /// ring fail at once instead of at their deadline. An elastic rank that leaves a membership between steps
    /// closes its rings, so a neighbour still inside that membership's next all-reduce leaves it too.
    public func markClosed() {
        cohort_shm_store(closedFlag, 1)
        wakeWaiters()
    }

    /// From any thread: wakes a wait of this process (or the peer's) that sleeps on the ring, so it looks at
    /// `interruption` now rather than when its futex slice ends (up to 20 ms later). A woken wait whose word has
    /// not moved only rechecks and sleeps again.
    public func wakeWaiters() {
        cohort_shm_wake(tail)
        cohort_shm_wake(head)
    }

    static func mappedSize(slotCount: Int, slotBytes: Int) -> Int { headerBytes + slotCount * (slotHeaderBytes + slotBytes) }

    /// The receiver's side: creates and maps a new ring file in `directory` (tmpfs). `slotBytes` is rounded up to 64.
    public static func create(slotCount: Int, slotBytes: Int, directory: String = "/dev/shm") throws(TransportError)
        -> SharedMemoryRing
    {
        let (count, bytes) = try shape(slotCount: slotCount, slotBytes: slotBytes)
        let nonce = UInt64.random(in: 1...UInt64.max)
        let path = ringPath(directory, nonce)
        let fd = posixOpen(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("create", path) }
        defer { close(fd) }
        let (p, size) = try mapFresh(fd, count: count, bytes: bytes, path: path, populate: false) { unlink(path) }
        writeHeader(p, nonce: nonce, slotCount: count, slotBytes: bytes)
        return SharedMemoryRing(
            role: .receiver, path: path, nonce: nonce, slotCount: count, slotBytes: bytes, base: p, mappedBytes: size)
    }

    /// The receiver's side made ahead of need (elastic training keeps one ready, so that a new membership's ring
    /// costs no file, reservation or page faults when it forms): a file with no name, its pages reserved and
    /// mapped, named only by `publishName`. A process that dies before then leaves nothing in `directory`.
    public static func createUnnamed(slotCount: Int, slotBytes: Int, directory: String = "/dev/shm") throws(TransportError)
        -> SharedMemoryRing
    {
        let (count, bytes) = try shape(slotCount: slotCount, slotBytes: slotBytes)
        let fd = cohort_shm_open_unnamed(directory)
        guard fd >= 0 else { throw Self.failure("create unnamed", directory) }
        let (p, size) = try mapFresh(fd, count: count, bytes: bytes, path: directory, populate: true) { close(fd) }
        let nonce = UInt64.random(in: 1...UInt64.max)
        writeHeader(p, nonce: nonce, slotCount: count, slotBytes: bytes)
        let ring = SharedMemoryRing(
            role: .receiver, path: "", nonce: nonce, slotCount: count, slotBytes: bytes, base: p, mappedBytes: size,
            directory: directory)
        ring.unnamedFile = fd
        ring.linked = false
        return ring
    }

    /// Names a ring made by `createUnnamed` in its directory, so that the sender can open it from an offer (a
    /// named ring: nothing to do).
    public func publishName() throws(TransportError) {
        guard unnamedFile >= 0 else { return }
        let name = Self.ringPath(directory, nonce)
        let e = cohort_shm_link_unnamed(unnamedFile, name)
        guard e == 0 else {
            throw .zmq(operation: "shared memory name", endpoint: name, code: e, message: String(cString: strerror(e)))
        }
        close(unnamedFile)
        unnamedFile = -1
        path = name
        linked = true
    }

    /// The slot count (a power of two, so slot = counter % count stays continuous when the 32-bit counters
    /// wrap) and slot bytes (a multiple of 64) of a ring asked for with these.
    public static func shape(slotCount: Int, slotBytes: Int) throws(TransportError) -> (count: Int, bytes: Int) {
        guard isSupported else { throw .invalidArgument("shared-memory rings need Linux futexes") }
        guard slotCount >= 1, slotBytes >= 1, slotBytes <= Int(UInt32.max) - 64 else {
            throw .invalidArgument("shared-memory ring of \(slotCount) slots × \(slotBytes) bytes")
        }
        var count = slotCount
        if count & (count - 1) != 0 { count = 1 << (Int.bitWidth - (count - 1).leadingZeroBitCount) }
        return (count, (slotBytes + 63) / 64 * 64)
    }

    private static func ringPath(_ directory: String, _ nonce: UInt64) -> String {
        "\(directory)/cohort-\(getpid())-\(String(nonce, radix: 16))"
    }

    /// A new ring's file `fd` reserved and mapped at this shape, and its size; `cleanUp` runs when that fails.
    private static func mapFresh(
        _ fd: Int32, count: Int, bytes: Int, path: String, populate: Bool, cleanUp: () -> Void
    ) throws(TransportError) -> (UnsafeMutableRawPointer, Int) {
        let size = mappedSize(slotCount: count, slotBytes: bytes)
        do throws(TransportError) {
            return (try reserveAndMap(fd, size: size, path: path, populate: populate), size)
        } catch {
            cleanUp()
            throw error
        }
    }

    /// Reserves `size` bytes of `fd` and maps them; `populate` maps every page now.
    private static func reserveAndMap(_ fd: Int32, size: Int, path: String, populate: Bool) throws(TransportError)
        -> UnsafeMutableRawPointer
    {
        // Exactly 0600 whatever the umask: the sender refuses any other mode.
        _ = fchmod(fd, 0o600)
        // Reserve the pages now: a full tmpfs (Docker's /dev/shm is 64 MiB by default) must fail here, cleanly,
        // rather than with SIGBUS on a later write into a hole.
        let reserved = posix_fallocate(fd, 0, off_t(size))
        guard reserved == 0 else {
            throw .zmq(
                operation: "shared memory reserve \(size) bytes", endpoint: path, code: reserved,
                message: String(cString: strerror(reserved)))
        }
        let flags = MAP_SHARED | (populate ? cohort_shm_map_populate() : 0)
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, flags, fd, 0), p != MAP_FAILED else {
            throw Self.failure("map", path)
        }
        return p
    }

    private static func writeHeader(_ p: UnsafeMutableRawPointer, nonce: UInt64, slotCount: Int, slotBytes: Int) {
        p.storeBytes(of: nonce, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: UInt32(slotCount), toByteOffset: 16, as: UInt32.self)
        p.storeBytes(of: UInt32(slotBytes), toByteOffset: 20, as: UInt32.self)
        p.storeBytes(of: getpid(), toByteOffset: 24, as: Int32.self)
        // The magic last: a sender that maps a half-written file refuses it.
        p.storeBytes(of: magic, toByteOffset: 0, as: UInt64.self)
    }

    /// Whether `path` names a ring file `create` could have made in `directory`: `directory/cohort-…`, one path
    /// component, no `..`. What a peer announces is checked against this before anything is opened.
    public static func isRingPath(_ path: String, directory: String = "/dev/shm") -> Bool {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        guard path.hasPrefix(prefix) else { return false }
        let name = path.dropFirst(prefix.count)
        return name.hasPrefix("cohort-") && !name.contains("/") && !name.contains("..") && name.utf8.count <= 255
            && !path.contains("/..") && !path.contains("\0")
    }

    /// The sender's side: maps the ring the receiver announced, if it exists here and carries `nonce`.
    /// A peer chooses `path`, so it is opened only if it is a `cohort-` ring file in `directory` (/dev/shm) that a
    /// process of this user made: not a link (O_NOFOLLOW), a regular file, owned by this uid, mode 0600. Anything
    /// else is refused (the link then stays on the socket).
    public static func open(path: String, nonce: UInt64, directory: String = "/dev/shm") throws(TransportError)
        -> SharedMemoryRing
    {
        guard isSupported else { throw .invalidArgument("shared-memory rings need Linux futexes") }
        guard isRingPath(path, directory: directory) else {
            throw .invalidArgument("shared-memory path \(path) is not a cohort- ring file in \(directory)")
        }
        let fd = posixOpen(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0)
        guard fd >= 0 else { throw Self.failure("open", path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Self.failure("stat", path) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw .invalidArgument("shared-memory ring \(path) is not a regular file")
        }
        guard st.st_uid == getuid() else {
            throw .invalidArgument("shared-memory ring \(path) is owned by uid \(st.st_uid), not this user (\(getuid()))")
        }
        guard (st.st_mode & 0o7777) == 0o600 else {
            throw .invalidArgument(
                "shared-memory ring \(path) has mode \(String(st.st_mode & 0o7777, radix: 8)), not 600")
        }
        guard Int(st.st_size) >= headerBytes else {
            throw .invalidArgument("shared-memory ring \(path) is too small to be one")
        }
        let size = Int(st.st_size)
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw Self.failure("map", path)
        }
        let count = Int(p.load(fromByteOffset: 16, as: UInt32.self))
        let bytes = Int(p.load(fromByteOffset: 20, as: UInt32.self))
        guard p.load(fromByteOffset: 0, as: UInt64.self) == magic, p.load(fromByteOffset: 8, as: UInt64.self) == nonce,
            count >= 1, bytes % 64 == 0, mappedSize(slotCount: count, slotBytes: bytes) == size
        else {
            munmap(p, size)
            throw .invalidArgument("shared-memory ring \(path) is not the one announced (magic, nonce or size differ)")
        }
        p.storeBytes(of: getpid(), toByteOffset: 28, as: Int32.self)
        return SharedMemoryRing(
            role: .sender, path: path, nonce: nonce, slotCount: count, slotBytes: bytes, base: p, mappedBytes: size)
    }

    /// Removes the file's name (the mappings stay): call once the sender has mapped it.
    public func unlinkName() {
        if linked {
            unlink(path)
            linked = false
        }
    }

    private static func failure(_ what: String, _ path: String) -> TransportError {
        let code = errno
        return .zmq(operation: "shared memory \(what)", endpoint: path, code: code, message: String(cString: strerror(code)))
    }

    private func slot(_ counter: UInt32) -> UnsafeMutableRawPointer {
        base + Self.headerBytes + Int(counter % UInt32(slotCount)) * (Self.slotHeaderBytes + slotBytes)
    }

    // MARK: sender

    /// Waits for a free slot, lets `fill` write the header (32 bytes) and up to `slotBytes` of payload, then
    /// publishes it to the receiver.
    public func send(
        deadline: Deadline, operation: String,
        _ fill: (_ header: UnsafeMutableRawBufferPointer, _ payload: UnsafeMutableRawPointer) -> Void
    ) throws(TransportError) {
        precondition(role == .sender)
        let t = ownCounter
        try wait(operation: operation, deadline: deadline, word: head, sleeping: senderSleeping) { t &- $0 < UInt32(slotCount) }
        publish(fill)
    }

    /// Like `send` if a slot is free now; false (and nothing written) if the ring is full.
    public func trySend(_ fill: (_ header: UnsafeMutableRawBufferPointer, _ payload: UnsafeMutableRawPointer) -> Void) -> Bool {
        precondition(role == .sender)
        guard ownCounter &- cohort_shm_load(head) < UInt32(slotCount) else { return false }
        publish(fill)
        return true
    }

    private func publish(_ fill: (_ header: UnsafeMutableRawBufferPointer, _ payload: UnsafeMutableRawPointer) -> Void) {
        let t = ownCounter
        let s = slot(t)
        fill(UnsafeMutableRawBufferPointer(start: s, count: WireHeader.size), s + Self.slotHeaderBytes)
        ownCounter = t &+ 1
        cohort_shm_store(tail, ownCounter)
        if cohort_shm_load(receiverSleeping) != 0 { cohort_shm_wake(tail) }
    }

    // MARK: receiver

    /// Waits for the next published slot and hands its 32 header bytes and its payload area to `body`; the slot
    /// goes back to the sender when `body` returns, so `body` must be done with the memory by then.
    ///
    /// `progress`, while waiting: other work that must go on meanwhile (this rank's own pending sends to its
    /// next neighbour); it returns whether work is left, and while it is, the wait polls instead of sleeping.
    public func receive<R>(
        deadline: Deadline, operation: String, progress: (() -> Bool)? = nil,
        _ body: (_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawPointer) throws(TransportError) -> R
    ) throws(TransportError) -> R {
        precondition(role == .receiver)
        let h = ownCounter
        try wait(operation: operation, deadline: deadline, word: tail, sleeping: receiverSleeping, progress: progress) { $0 != h }
        let s = slot(h)
        defer {
            ownCounter = h &+ 1
            cohort_shm_store(head, ownCounter)
            if cohort_shm_load(senderSleeping) != 0 { cohort_shm_wake(head) }
        }
        return try body(UnsafeRawBufferPointer(start: s, count: WireHeader.size), UnsafeRawPointer(s + Self.slotHeaderBytes))
    }

    // MARK: waiting

    /// The peer closed its end, or this membership was aborted: why the wait must end, or nil.
    private func endedWhileAwake() -> TransportError? {
        if cohort_shm_load(closedFlag) != 0 { return .closed(endpoint: "shm:\(path) (the peer closed its end)") }
        if let reason = interruption?() { return .closed(endpoint: "shm:\(path) (\(reason))") }
        return nil
    }

    /// Returns once `ready(word)` holds: spins briefly, then sleeps on the futex in slices, announcing the sleep
    /// in `sleeping` so the other side knows to wake it (both sides use sequentially consistent accesses, so
    /// either the waker sees the flag or the sleeper sees the new value).
    private func wait(
        operation: String, deadline: Deadline, word: UnsafeMutablePointer<UInt32>,
        sleeping: UnsafeMutablePointer<UInt32>, progress: (() -> Bool)? = nil,
        ready: (UInt32) -> Bool
    ) throws(TransportError) {
        if ready(cohort_shm_load(word)) { return }
        let spinUntil = Deadline.nowNanoseconds() &+ spinNanoseconds
        var n = 0
        var busy = progress?() ?? false
        while true {
            cohort_shm_pause()
            if ready(cohort_shm_load(word)) { return }
            n += 1
            if n & 63 == 0 {
                if let progress { busy = progress() }
                if Deadline.nowNanoseconds() >= spinUntil { break }
            }
        }
        // Other work pending: poll it and the ring, yielding the CPU in between, until one of them moves.
        while busy {
            if ready(cohort_shm_load(word)) { return }
            busy = progress?() ?? false
            if deadline.hasPassed { throw .timeout(operation: operation, endpoint: "shm:\(path)", seconds: 0) }
            if let reason = interruption?() { throw .closed(endpoint: "shm:\(path) (\(reason))") }
            sched_yield()
        }
        while true {
            cohort_shm_store(sleeping, 1)
            let seen = cohort_shm_load(word)
            if ready(seen) {
                cohort_shm_store(sleeping, 0)
                return
            }
            // A close or an abort that came while this side spun woke nobody: the futex sleeps on the counter,
            // which they leave alone, so without this look the wait slept a whole slice (a join's survivor
            // still inside the next all-reduce stalled everyone about 10 ms).
            if let ended = endedWhileAwake() {
                cohort_shm_store(sleeping, 0)
                throw ended
            }
            let left = deadline.nanoseconds > Deadline.nowNanoseconds() ? deadline.nanoseconds - Deadline.nowNanoseconds() : 0
            if left == 0 {
                cohort_shm_store(sleeping, 0)
                throw .timeout(operation: operation, endpoint: "shm:\(path)", seconds: 0)
            }
            _ = cohort_shm_wait(word, seen, Int64(min(left, 20_000_000)))
            cohort_shm_store(sleeping, 0)
            if ready(cohort_shm_load(word)) { return }
            if let ended = endedWhileAwake() { throw ended }
            let pid = peerPid
            if pid > 0, kill(pid, 0) != 0, errno == ESRCH {
                throw .peerExited(endpoint: "shm:\(path)", pid: pid)
            }
        }
    }
}

/// open(2), out of reach of `SharedMemoryRing.open`'s shadowing.
private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
