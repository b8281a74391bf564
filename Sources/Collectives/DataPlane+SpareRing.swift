import Dispatch
import Foundation
import Transport

/// Elastic training re-forms its ring at every membership change while the survivors wait: making the inbound
/// shared-memory ring then (a tmpfs file, its pages reserved, then faulted in by the first collectives) cost about
/// half a millisecond of that stall. With `keepSpareRing` on, the plane keeps one ring made ahead, unnamed
/// (`SharedMemoryRing.createUnnamed`: nothing is left in /dev/shm if the process dies), and makes the next one in
/// the background half a second after a communicator takes it: at once, making it (reserving and mapping 4 MiB)
/// took the CPU from the very ring formation and state copy it is meant to shorten.
extension DataPlane {
    /// The shape of the inbound ring a communicator with `options` offers its left neighbour.
    static func inboundRingShape(_ options: CommunicatorOptions) -> (slotCount: Int, slotBytes: Int) {
        (max(2, options.sharedMemorySlots), max(64, options.chunkBytes, options.sharedMemoryChunkBytes))
    }

    /// Turns on the spare ring (elastic workers) and starts making the first.
    public func keepSpareRing() {
        guard options.sharedMemory, SharedMemoryRing.isSupported else { return }
        spares.enable()
        refillSpareRing(Self.inboundRingShape(options), after: 0)
    }

    /// How long after a spare is taken the next one is made.
    static let spareRefillDelay = 0.5

    /// A ring of this shape for a communicator's offer: the spare, named now, when there is one of this shape
    /// (and the next spare is started); else a new one, made now.
    func inboundRing(_ shape: (slotCount: Int, slotBytes: Int)) -> SharedMemoryRing? {
        if let spare = spares.take(shape) {
            refillSpareRing(shape, after: Self.spareRefillDelay)
            if (try? spare.publishName()) != nil { return spare }
        }
        return try? SharedMemoryRing.create(slotCount: shape.slotCount, slotBytes: shape.slotBytes)
    }

    private func refillSpareRing(_ shape: (slotCount: Int, slotBytes: Int), after delay: Double) {
        guard spares.startRefill() else { return }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + delay) { [spares] in
            spares.finishRefill(try? SharedMemoryRing.createUnnamed(slotCount: shape.slotCount, slotBytes: shape.slotBytes))
        }
    }
}

/// The plane's one spare ring and whether one is being made (`DataPlane+SpareRing`).
final class SpareRings: @unchecked Sendable {
    private let lock = NSLock()
    private var spare: SharedMemoryRing?
    private var refilling = false
    private var enabled = false

    /// From now on `startRefill` makes spares.
    func enable() { lock.withLock { enabled = true } }

    /// The spare, if it has this shape (`SharedMemoryRing.shape` of what was asked).
    func take(_ shape: (slotCount: Int, slotBytes: Int)) -> SharedMemoryRing? {
        guard let want = try? SharedMemoryRing.shape(slotCount: shape.slotCount, slotBytes: shape.slotBytes) else {
            return nil
        }
        return lock.withLock {
            guard let ring = spare, ring.slotCount == want.count, ring.slotBytes == want.bytes else { return nil }
            spare = nil
            return ring
        }
    }

    /// True when the caller should make a spare now (enabled, none held, none being made).
    func startRefill() -> Bool {
        lock.withLock {
            guard enabled, spare == nil, !refilling else { return false }
            refilling = true
            return true
        }
    }

    func finishRefill(_ ring: SharedMemoryRing?) {
        lock.withLock {
            spare = ring
            refilling = false
        }
    }
}
