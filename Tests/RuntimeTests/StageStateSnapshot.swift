import NN
import Training

/// A copy of a stage's trainable state (weights, optimizer slots, both step counters), for tests that put a
/// stage back where an abort would have left it.
final class StageStateSnapshot {
    /// The trainer's step the copy was taken at; −1 before the first copy.
    private(set) var step = -1
    private var optimizerStep = 0
    private var weights: [Float] = []
    private var slots: [String: [Float]] = [:]

    init() {}

    /// Copies `trainer`'s state.
    func capture(_ trainer: Trainer) {
        let p = trainer.model.parameters
        if weights.count != p.count { weights = [Float](repeating: 0, count: p.count) }
        weights.withUnsafeMutableBufferPointer {
            _ = $0.update(fromContentsOf: UnsafeBufferPointer(start: p.pointer, count: p.count))
        }
        if let optimizer = trainer.optimizer as? SlotOptimizer {
            var seen = Set<String>()
            optimizer.forEachSlot { name, bytes in
                seen.insert(name)
                let values = bytes.bindMemory(to: Float.self)
                var copy = slots.removeValue(forKey: name) ?? []
                if copy.count != values.count { copy = [Float](repeating: 0, count: values.count) }
                copy.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: values) }
                slots[name] = copy
            }
            slots = slots.filter { seen.contains($0.key) }
            optimizerStep = optimizer.step
        }
        step = trainer.step
    }

    /// Puts the copy back into `trainer` (the same stage, or its successor in a new membership, which holds the
    /// same partition); false when there is no copy, the sizes differ or the optimizer keeps no named slots.
    @discardableResult
    func restore(into trainer: Trainer) -> Bool {
        let p = trainer.model.parameters
        guard step >= 0, weights.count == p.count, let optimizer = trainer.optimizer as? SlotOptimizer else {
            return false
        }
        weights.withUnsafeBufferPointer {
            _ = UnsafeMutableBufferPointer(start: p.pointer, count: p.count).update(fromContentsOf: $0)
        }
        for (name, values) in slots {
            let target = optimizer.slotBuffer(name, count: values.count)
            values.withUnsafeBufferPointer { _ = target.update(fromContentsOf: $0) }
        }
        optimizer.adopt(step: optimizerStep, keepingSlots: !slots.isEmpty)
        trainer.resume(atStep: step)
        return true
    }
}
