import Dispatch
import Foundation
import Transport

/// Elastic training re-forms its ring at every membership change while the survivors wait: making the inbound
/// shared-memory ring then (a tmpfs file, its pages reserved, then faulted in by the first collectives) cost about
/// half a millisecond of that stall. With `keepSpareRing` on, the plane keeps one ring made ahead, unnamed
/// (`SharedMemoryRing.createUnnamed`: nothing is left in /dev/shm if the process dies), and makes the next one in
/// the background half a second after a communicator takes it: at once, making it (reserving and mapping 4 MiB)
/// took the CPU from the very ring formation and state copy it is meant to shorten. A stage of a DP × PP grid
/// forms three rings per membership (the world, its replicas, its pipeline), so it keeps three.
extension DataPlane {
    /// The shape of the inbound ring a communicator with `options` offers its left neighbour.
    static func inboundRingShape(_ options: CommunicatorOptions) -> (slotCount: Int, slotBytes: Int) {
        (max(2, options.sharedMemorySlots), max(64, options.chunkBytes, options.sharedMemoryChunkBytes))
    }

    /// Turns on spare rings (elastic workers), `count` of them, and starts making them.
    public func keepSpareRings(_ count: Int = 1) {
        guard options.sharedMemory, SharedMemoryRing.isSupported, count > 0 else { return }
        spares.enable(count)
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

    /// Makes spares one after another, in the background, until the pool is full again.
    private func refillSpareRing(_ shape: (slotCount: Int, slotBytes: Int), after delay: Double) {
        guard spares.startRefill() else { return }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + delay) { [weak self, spares] in
            let ring = try? SharedMemoryRing.createUnnamed(slotCount: shape.slotCount, slotBytes: shape.slotBytes)
            if spares.finishRefill(ring) { self?.refillSpareRing(shape, after: 0) }
        }
    }
}

/// The plane's spare rings and whether one is being made (`DataPlane+SpareRing`).
final class SpareRings: @unchecked Sendable {
    private let lock = NSLock()
    private var spares: [SharedMemoryRing] = []
    private var refilling = false
    private var target = 0

    /// From now on `startRefill` makes spares until `count` are held.
    func enable(_ count: Int) { lock.withLock { target = max(target, count) } }

    /// A spare, if the spares have this shape (`SharedMemoryRing.shape` of what was asked).
    func take(_ shape: (slotCount: Int, slotBytes: Int)) -> SharedMemoryRing? {
        guard let want = try? SharedMemoryRing.shape(slotCount: shape.slotCount, slotBytes: shape.slotBytes) else {
            return nil
        }
        return lock.withLock {
            guard let i = spares.firstIndex(where: { $0.slotCount == want.count && $0.slotBytes == want.bytes }) else {
                return nil
            }
            return spares.remove(at: i)
        }
    }

    /// True when the caller should make a spare now (enabled, fewer held than wanted, none being made).
    func startRefill() -> Bool {
        lock.withLock {
            guard spares.count < target, !refilling else { return false }
            refilling = true
            return true
        }
    }

    /// Holds a new spare; true when the pool wants another (a failed make stops the refill until the next take).
    func finishRefill(_ ring: SharedMemoryRing?) -> Bool {
        lock.withLock {
            refilling = false
            guard let ring else { return false }
            spares.append(ring)
            return spares.count < target
        }
    }
}
