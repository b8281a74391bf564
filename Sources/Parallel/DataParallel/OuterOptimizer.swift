import Collectives
import Config
import Tensors
import Training

/// Local SGD / DiLoCo's outer loop (see `SyncSpec`). Every H inner steps each replica's pseudo-gradient
/// Δ = θ_start − θ_local is averaged across replicas and θ_start takes one outer step; every replica then starts
/// the next H steps from the same θ_start, so the replicas are bitwise identical after each synchronisation.
///
/// Bytes per synchronisation: one all-reduce of the parameters, 2(N−1)/N · P · (4 or 2 for bf16) per rank on the
/// ring, i.e. 1/H of plain data parallelism's per-step traffic.
///
/// Divergence is decided at synchronisations, where every rank sees the same Δ: a replica that met a non-finite
/// step since the last one poisons its Δ, the average is NaN everywhere, and every rank returns to θ_start.
public final class OuterOptimizer: CheckpointedState {
    public let spec: SyncSpec
    private let communicator: Communicator
    /// θ at the last synchronisation.
    public private(set) var start: [Float]
    private var momentum: [Float]
    private var delta: [Float]
    private var sawNonFinite = false

    public init(spec: SyncSpec, communicator: Communicator, parameters: Tensor) {
        self.spec = spec
        self.communicator = communicator
        start = parameters.array
        momentum = [Float](repeating: 0, count: parameters.count)
        delta = [Float](repeating: 0, count: parameters.count)
    }

    /// Whether the step just taken (1-based `step`, out of `totalSteps`) ends a local period.
    public func isSynchronisation(step: Int, totalSteps: Int) -> Bool {
        step % spec.everySteps == 0 || step == totalSteps
    }

    /// An inner step's gradient norm, remembered until the next synchronisation.
    public func noteInnerStep(norm: Float) {
        if !norm.isFinite { sawNonFinite = true }
    }

    /// Starts the next period from `parameters` (after the replicas have agreed on them).
    public func reset(to parameters: Tensor) {
        start = parameters.array
    }

    /// Averages Δ across replicas, takes the outer step and puts θ_start into `parameters`. Returns ‖Δ̄‖, the same
    /// on every rank (non-finite when some replica diverged; the parameters then go back to θ_start unchanged).
    public func synchronize(_ parameters: Tensor) throws -> Float {
        let p = parameters.pointer
        let n = delta.count
        start.withUnsafeBufferPointer { s in
            delta.withUnsafeMutableBufferPointer { d in
                for i in 0..<n { d[i] = s[i] - p[i] }
                if sawNonFinite, n > 0 { d[0] = .nan }
            }
        }
        sawNonFinite = false
        try communicator.allReduce(&delta, op: .average, wire: spec.precision == .bfloat16 ? .bfloat16 : .float32)
        let norm = delta.withUnsafeBufferPointer { d in
            var sum: Float = 0
            for i in 0..<n { sum += d[i] * d[i] }
            return sum.squareRoot()
        }
        if norm.isFinite { step() }
        start.withUnsafeBufferPointer { s in
            if let base = s.baseAddress { p.update(from: base, count: s.count) }
        }
        return norm
    }

    /// The outer step on θ_start, in place (whole buffers: this runs over every parameter every H steps).
    private func step() {
        let lr = spec.outerLR
        let mu = spec.outerMomentum
        let nesterov = spec.outerOptimizer == .nesterov
        let n = delta.count
        delta.withUnsafeBufferPointer { d in
            start.withUnsafeMutableBufferPointer { s in
                momentum.withUnsafeMutableBufferPointer { m in
                    if nesterov {
                        for i in 0..<n {
                            m[i] = mu * m[i] + d[i]
                            s[i] -= lr * (d[i] + mu * m[i])
                        }
                    } else {
                        for i in 0..<n { s[i] -= lr * d[i] }
                    }
                }
            }
        }
    }

    // MARK: CheckpointedState

    public var slotPrefix: String { "outer." }

    public func checkpointSlots() -> [String: [Float]] { ["outer.start": start, "outer.momentum": momentum] }

    public func restore(slots: [String: [Float]]) throws {
        for (name, values) in slots where values.count != start.count {
            throw RuntimeError.invalid("checkpoint: \(name) has \(values.count) values, the model \(start.count) parameters")
        }
        if let s = slots["outer.start"] { start = s }
        if let m = slots["outer.momentum"] { momentum = m }
    }
}
