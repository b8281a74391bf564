import Collectives
import Foundation
import NN
import Training

/// What the replicas of a new membership agreed on before training on (`agreeReplicaState`).
public struct ReplicaAgreement: Sendable, Equatable {
    /// The step every replica continues from: the furthest any survivor completed. A replica that finished the
    /// interrupted step holds its exact result (every rank's contribution was in its all-reduce), so no completed
    /// step is lost; when none finished it, it is redone in full by all.
    public var step: Int
    /// Each replica's completed steps before agreeing (new ranks' order).
    public var stepsBefore: [Int]
    /// The rank whose state the others took (the lowest one holding `step`), when any replica's state differed.
    public var source: Int?
    /// State bytes broadcast from `source` to every other replica (0 when every checksum already matched).
    public var bytesCopied: Int
    /// Wall seconds of this rank's part of the copy (`broadcastState`: the broadcasts from `source`, the slots
    /// loaded, the generators set); 0 when nothing was copied. The checksums around it are not in it.
    public var copySeconds: Double = 0

    public init(step: Int, stepsBefore: [Int], source: Int?, bytesCopied: Int, copySeconds: Double = 0) {
        self.step = step
        self.stepsBefore = stepsBefore
        self.source = source
        self.bytesCopied = bytesCopied
        self.copySeconds = copySeconds
    }

    /// The state bytes one receiver got (`bytesCopied` over the replicas that received).
    public var bytesPerReceiver: Int { stepsBefore.count > 1 ? bytesCopied / (stepsBefore.count - 1) : 0 }

    /// What the copy reached: one receiver's bytes per second of `copySeconds`, in GB/s (10⁹ bytes). The chain
    /// carries those bytes over every link once, so this is the rate each link delivered; 0 when nothing was copied.
    public var copyGigabytesPerSecond: Double {
        copySeconds > 0 ? Double(bytesPerReceiver) / copySeconds / 1e9 : 0
    }
}

/// Survivors of a membership change compare their state and make it identical: every replica's completed step
/// and a checksum of its weights, optimizer slots and counters go into one small all-reduce (each rank fills its
/// own entries, as 16-bit pieces exact in fp32); if any differs, the lowest rank at the furthest step broadcasts
/// its weights, slots and counters, and the checksums are compared again. No checkpoint is read.
public func agreeReplicaState(_ trainer: Trainer, communicator c: Communicator) throws -> ReplicaAgreement {
    healTrace("agree-start")
    let (steps, sums) = try gatherStepsAndChecksums(trainer, c)
    healTrace("gathered")
    let furthest = steps.max() ?? trainer.step
    guard Set(steps).count > 1 || Set(sums).count > 1 else {
        return ReplicaAgreement(step: furthest, stepsBefore: steps, source: nil, bytesCopied: 0)
    }
    let source = steps.firstIndex(of: furthest) ?? 0
    let start = DispatchTime.now().uptimeNanoseconds
    let bytes = try broadcastState(trainer, from: source, step: furthest, c)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    healTrace("copied")
    let (after, afterSums) = try gatherStepsAndChecksums(trainer, c)
    guard Set(after).count == 1, Set(afterSums).count == 1 else {
        throw RuntimeError.invalid(
            "rank \(c.rank): replica states still differ after the broadcast from rank \(source) (steps \(after))")
    }
    return ReplicaAgreement(
        step: furthest, stepsBefore: steps, source: source, bytesCopied: bytes * (c.size - 1), copySeconds: seconds)
}

/// Every rank's completed step and state checksum, in rank order.
private func gatherStepsAndChecksums(_ trainer: Trainer, _ c: Communicator) throws -> (steps: [Int], sums: [UInt64]) {
    let step = UInt64(max(0, min(trainer.step, Int(UInt32.max))))
    let sum = replicaStateChecksum(trainer)
    healTrace("checksum")
    let rows = try allGatherWords([step, sum], c)
    return (rows.map { Int(clamping: $0[0]) }, rows.map { $0[1] })
}

/// Every rank's `words` (as many on each), in rank order, in one small all-reduce: each rank fills its own row of
/// a zeroed table, every word as four 16-bit pieces, which are exact in fp32 and stay exact summed with zeros.
/// `algorithm`: `.recursiveDoubling` for a group that never runs a ring collective, whose ring links would be
/// negotiated for this alone.
func allGatherWords(_ words: [UInt64], _ c: Communicator, algorithm: AllReduceAlgorithm = .automatic) throws -> [[UInt64]] {
    let width = words.count * 4
    var table = [Float](repeating: 0, count: c.size * width)
    for (w, word) in words.enumerated() {
        for p in 0..<4 { table[c.rank * width + w * 4 + p] = Float((word >> UInt64(16 * p)) & 0xFFFF) }
    }
    try c.allReduce(&table, op: .sum, algorithm: algorithm)
    return (0..<c.size).map { r in
        (0..<words.count).map { w in
            (0..<4).reduce(UInt64(0)) { word, p in
                word | UInt64(max(0, min(table[r * width + w * 4 + p], 65535))) << UInt64(16 * p)
            }
        }
    }
}

/// FNV-1a over the weights, the optimizer's slots (by name) and its step, and the trainer's step: equal sums mean
/// replicas that will take bitwise the same next step.
public func replicaStateChecksum(_ trainer: Trainer) -> UInt64 {
    var h = StateHash.offsetBasis
    func mix(_ bytes: UnsafeRawBufferPointer) { h = StateHash.mix(h, bytes) }
    let p = trainer.model.parameters
    mix(UnsafeRawBufferPointer(start: p.pointer, count: p.count * MemoryLayout<Float>.stride))
    // In place where the optimizer lends its slots: `state()` copies them, which cost a survivor more than the
    // hashing (fresh pages for megabytes) at every membership change.
    if let slots = trainer.optimizer as? SlotOptimizer {
        slots.forEachSlot { _, bytes in mix(bytes) }
        withUnsafeBytes(of: Int64(slots.step)) { mix($0) }
    } else {
        let state = trainer.optimizer.state()
        for name in state.slots.keys.sorted() {
            state.slots[name]?.withUnsafeBytes { mix($0) }
        }
        withUnsafeBytes(of: Int64(state.step)) { mix($0) }
    }
    withUnsafeBytes(of: Int64(trainer.step)) { mix($0) }
    return h
}

/// `source`'s weights, optimizer slots, counters, BatchNorm running statistics and dropout generators onto every
/// rank; the bytes one receiver got. Each buffer is received in place (the weights into the model, each slot into
/// the optimizer), so the copy costs the link's time and nothing more. The generators go with the broadcast (a joiner, or a replica behind,
/// continues the source's mask stream) but are not in the checksum: replicas with uneven shares of the batch draw
/// different counts from them.
private func broadcastState(_ trainer: Trainer, from source: Int, step: Int, _ c: Communicator) throws -> Int {
    guard let optimizer = trainer.optimizer as? SlotOptimizer else {
        throw RuntimeError.invalid("optimizer \(trainer.optimizer.name) keeps no named slots to copy between replicas")
    }
    let params = trainer.model.parameters
    try c.broadcast(params.buffer, root: source)
    let counters = try c.broadcastIntegers([optimizer.step, optimizer.hasSlots ? 1 : 0], root: source)
    let (optimizerStep, hasSlots) = (counters[0], counters[1] == 1)
    let slots = hasSlots ? optimizer.slotNames : []
    for name in slots {
        try c.broadcast(optimizer.slotBuffer(name, count: params.count), root: source)
    }
    optimizer.adopt(step: optimizerStep, keepingSlots: hasSlots)
    // BatchNorm's running statistics (not trained, not in the checksum: without SyncBatchNorm they differ between
    // replicas by design) go with the copy, as DDP's broadcast_buffers does: a joiner would otherwise evaluate its
    // test shard with fresh statistics.
    let buffers = trainer.model.buffers
    if buffers.count > 0 { try c.broadcast(buffers.buffer, root: source) }
    let generators = try broadcastDropoutGenerators(trainer.model.layers, from: source, c)
    trainer.resume(atStep: step)
    return (1 + slots.count) * params.count * MemoryLayout<Float>.stride + buffers.count * MemoryLayout<Float>.stride
        + generators
}

/// Every dropout layer's generator state (four 64-bit words), from `source`, in layer order; the bytes received.
private func broadcastDropoutGenerators(_ layers: [Layer], from source: Int, _ c: Communicator) throws -> Int {
    var bytes = 0
    for layer in layers {
        if let residual = layer as? Residual {
            bytes += try broadcastDropoutGenerators(residual.body, from: source, c)
        }
        guard let dropout = layer as? Dropout else { continue }
        let mine = dropout.rng.state.map { Int(Int64(bitPattern: $0)) }
        let words = try c.broadcastIntegers(mine, root: source).map { UInt64(bitPattern: Int64($0)) }
        // Xoshiro256(state:) traps on an all-zero state: what a peer sent is checked first.
        guard words.count == 4, words.contains(where: { $0 != 0 }) else {
            throw RuntimeError.invalid("rank \(c.rank): rank \(source) sent an all-zero dropout generator state")
        }
        dropout.rng = Xoshiro256(state: words)
        bytes += words.count * MemoryLayout<UInt64>.stride
    }
    return bytes
}
