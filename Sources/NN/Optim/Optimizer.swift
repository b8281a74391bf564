import Tensors

/// An optimizer's serialisable state: the step count and its per-parameter slot buffers (e.g. "momentum",
/// "m", "v"), each as long as the flat parameter buffer. Codable, for checkpoints.
public struct OptimizerState: Codable, Sendable, Equatable {
    public var name: String
    public var step: Int
    public var slots: [String: [Float]]
    public init(name: String, step: Int, slots: [String: [Float]]) {
        self.name = name
        self.step = step
        self.slots = slots
    }
}

public enum OptimizerError: Error, CustomStringConvertible, Equatable {
    case wrongOptimizer(expected: String, found: String)
    case slotSize(slot: String, expected: Int, found: Int)
    case missingSlot(String)
    case unknown(String)

    public var description: String {
        switch self {
        case .wrongOptimizer(let e, let f): return "optimizer state is for '\(f)', expected '\(e)'"
        case .slotSize(let s, let e, let f): return "optimizer slot '\(s)' has \(f) values, expected \(e)"
        case .missingSlot(let s): return "optimizer state lacks slot '\(s)'"
        case .unknown(let n): return "unknown optimizer '\(n)' (sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw)"
        }
    }
}

/// Updates a model's flat parameter buffer from its flat gradient buffer, in place: one pass over contiguous
/// memory per step whatever the model, and the same code for a whole model or a pipeline stage's slice.
public protocol Optimizer: AnyObject {
    var name: String { get }
    /// The rate for the next `update`; a schedule sets it before each step.
    var learningRate: Float { get set }
    /// Updates done so far.
    var step: Int { get }
    /// Threads for the element-wise update of large buffers (it is memory-bound, so a second core adds bandwidth).
    var threads: Int { get set }
    /// One update: parameters ← f(parameters, gradients, state). Both tensors have the same count on every call.
    func update(parameters: Tensor, gradients: Tensor)
    func state() -> OptimizerState
    func load(_ state: OptimizerState) throws
}

/// Shared bookkeeping: named slot buffers allocated on the first update (sized by the parameters) and reused.
open class SlotOptimizer: Optimizer {
    public let name: String
    public var learningRate: Float
    public private(set) var step = 0
    public var threads = 1
    /// The slots this optimizer keeps, in the order `apply` takes them (a replica that has none yet allocates
    /// them by name when it receives another replica's state).
    public let slotNames: [String]
    private var slots: [String: Tensor] = [:]

    init(name: String, learningRate: Float, slotNames: [String]) {
        self.name = name
        self.learningRate = learningRate
        self.slotNames = slotNames
    }

    /// The slot named `name` for `count` parameters (zero on first use).
    final func slot(_ name: String, count: Int) -> Tensor {
        if let s = slots[name], s.count == count { return s }
        let s = Tensor(shape: [count])
        slots[name] = s
        return s
    }

    /// Below this many parameters a second thread costs more than it saves.
    static let minimumPerThread = 1 << 18

    public final func update(parameters: Tensor, gradients: Tensor) {
        precondition(
            parameters.count == gradients.count, "optimizer: \(parameters.count) parameters, \(gradients.count) gradients")
        step += 1
        let n = parameters.count
        let w = parameters.pointer
        let g = gradients.pointer
        let s = slotNames.map { slot($0, count: n).pointer }  // allocated here, before any thread starts
        let parts = max(1, min(threads, n / SlotOptimizer.minimumPerThread))
        if parts == 1 {
            apply(w, g, s, n)
            return
        }
        // Chunks of whole SIMD vectors; each thread updates its own disjoint range of every buffer.
        let chunk = ((n + parts - 1) / parts + 15) & ~15
        let work = UnsafeSendable((self, w, g, s))
        parallelFor(parts) { t in
            let (opt, w, g, s) = work.value
            let lo = min(t * chunk, n)
            let hi = min(lo + chunk, n)
            if lo < hi { opt.apply(w + lo, g + lo, s.map { $0 + lo }, hi - lo) }
        }
    }

    /// The update rule on raw pointers to `n` elements of the parameters, gradients and each slot (in the
    /// order of `slotNames`); `step` is already the 1-based number of this update. May run on several threads
    /// at once on disjoint ranges.
    open func apply(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
        _ slots: [UnsafeMutablePointer<Float>], _ n: Int
    ) {
        fatalError("subclass")
    }

    /// Whether the slots exist (they are allocated on the first update, or by `slotBuffer`).
    public final var hasSlots: Bool { !slots.isEmpty }

    /// Slot `name` for `count` parameters, for the caller to overwrite whole: a replica taking another's state
    /// receives each slot straight into the optimizer, with no copy in between. A slot absent or sized otherwise is
    /// allocated without zeroing (its values are undefined until written).
    public final func slotBuffer(_ name: String, count: Int) -> UnsafeMutableBufferPointer<Float> {
        if let s = slots[name], s.count == count { return s.buffer }
        let s = Tensor(storage: TensorStorage(uninitializedCount: count), offset: 0, shape: [count])
        slots[name] = s
        return s.buffer
    }

    /// Takes another replica's update count after `slotBuffer` received its slots; `keepingSlots` false (it had
    /// none yet) drops this one's, as `load` of a state without slots does.
    public final func adopt(step: Int, keepingSlots: Bool) {
        if !keepingSlots { slots = [:] }
        self.step = step
    }

    /// Each slot that exists, by name in sorted order, as the bytes it holds (no copy: `state` copies).
    public final func forEachSlot(_ body: (String, UnsafeRawBufferPointer) -> Void) {
        for name in slots.keys.sorted() {
            guard let s = slots[name] else { continue }
            body(name, UnsafeRawBufferPointer(s.buffer))
        }
    }

    public final func state() -> OptimizerState {
        var out: [String: [Float]] = [:]
        for (k, v) in slots { out[k] = v.array }
        return OptimizerState(name: name, step: step, slots: out)
    }

    public final func load(_ state: OptimizerState) throws {
        guard state.name == name else { throw OptimizerError.wrongOptimizer(expected: name, found: state.name) }
        var restored: [String: Tensor] = [:]
        let sizes = Set(state.slots.values.map(\.count))
        if sizes.count > 1 {
            let (k, v) = state.slots.first!
            throw OptimizerError.slotSize(slot: k, expected: sizes.max()!, found: v.count)
        }
        for (k, v) in state.slots {
            guard slotNames.contains(k) else { throw OptimizerError.missingSlot(k) }
            restored[k] = Tensor(shape: [v.count], values: v)
        }
        if state.step > 0, let missing = slotNames.first(where: { restored[$0] == nil }) {
            throw OptimizerError.missingSlot(missing)
        }
        slots = restored
        step = state.step
    }
}
