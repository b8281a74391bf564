import Foundation
import NN
import Tensors
import Testing

/// Sums over `ranks` replicas running as threads: every call waits until all have contributed, then each gets the
/// sum in rank order (bitwise the same on every rank, as an all-reduce gives). A wait longer than 10 s fails.
final class ThreadStatistics: @unchecked Sendable {
    let ranks: Int
    private let lock = NSCondition()
    private var contributions: [[Float]]
    private var arrived = 0
    private var generation = 0
    private var result: [Float] = []
    /// Set to make every call fail (a gone peer).
    var failing = false

    init(ranks: Int) {
        self.ranks = ranks
        contributions = Array(repeating: [], count: ranks)
    }

    func sum(_ values: UnsafeMutableBufferPointer<Float>, rank: Int) -> Bool {
        if failing { return false }
        lock.lock()
        defer { lock.unlock() }
        let mine = generation
        contributions[rank] = Array(values)
        arrived += 1
        if arrived == ranks {
            result = (0..<values.count).map { i in contributions.reduce(0) { $0 + $1[i] } }
            arrived = 0
            generation += 1
            lock.broadcast()
        } else {
            let deadline = Date().addingTimeInterval(10)
            while generation == mine {
                if !lock.wait(until: deadline) { return false }
            }
        }
        for i in 0..<values.count { values[i] = result[i] }
        return true
    }

    /// Rank r's view, as a layer's reducer.
    final class Replica: BatchStatisticsReducer {
        let shared: ThreadStatistics
        let rank: Int
        init(_ shared: ThreadStatistics, rank: Int) {
            self.shared = shared
            self.rank = rank
        }
        func sumAcrossReplicas(_ values: UnsafeMutableBufferPointer<Float>) -> Bool { shared.sum(values, rank: rank) }
    }
}

/// Runs `body(r)` on `count` threads at once and waits for all (each thread touches only its replica's objects).
func onThreads(_ count: Int, _ body: @escaping (Int) -> Void) {
    struct Unchecked: @unchecked Sendable { let body: (Int) -> Void }
    let box = Unchecked(body: body)
    let group = DispatchGroup()
    for r in 0..<count {
        group.enter()
        Thread {
            box.body(r)
            group.leave()
        }.start()
    }
    group.wait()
}

/// Synchronised BatchNorm (PyTorch's SyncBatchNorm) over replicas as threads.
@Suite(.timeLimit(.minutes(3))) struct SyncBatchNormTests {
    static let shapes = [FeatureShape(channels: 3, height: 2, width: 3), FeatureShape(flat: 5)]
    /// Uneven local batches, as the last global batch of an epoch can leave them.
    static let rows = [2, 3, 4]

    /// One single-layer model per replica with the same parameters, synchronised through `shared`.
    static func replicas(_ shape: FeatureShape, _ shared: ThreadStatistics, parameters: Tensor) -> [Sequential] {
        (0..<shared.ranks).map { r in
            let norm = BatchNorm(shape: shape, momentum: 0.3, synchronized: true)
            norm.statisticsReducer = ThreadStatistics.Replica(shared, rank: r)
            let model = Sequential([norm], inputFeatures: shape.count)
            model.initialize(.heNormal, seed: 1)
            model.parameters.assign(parameters)
            model.computesInputGradient = true
            return model
        }
    }

    /// Rows [offset(r), offset(r) + rows[r]) of t.
    static func slice(_ t: Tensor, replica r: Int) -> Tensor {
        let start = rows[..<r].reduce(0, +)
        return t.rows(start..<(start + rows[r])).copy()
    }

    /// Forward, backward, running statistics and summed ∂γ/∂β of the replicas equal one BatchNorm over the
    /// concatenated batch.
    @Test(arguments: shapes)
    func replicasEqualOneLayerOverTheWholeBatch(_ shape: FeatureShape) {
        var probe = Probe(seed: 80)
        let total = Self.rows.reduce(0, +)
        let x = probe.tensor([total, shape.count], scale: 2)
        for i in 0..<x.count { x[i] += 1.5 }
        let dy = probe.tensor([total, shape.count])
        let parameters = probe.tensor([2 * shape.channels])

        let reference = Sequential([BatchNorm(shape: shape, momentum: 0.3)], inputFeatures: shape.count)
        reference.initialize(.heNormal, seed: 1)
        reference.parameters.assign(parameters)
        reference.computesInputGradient = true
        let y = reference.forward(x, training: true).array
        let dx = reference.backward(dy.copy())!.array

        let models = Self.replicas(shape, ThreadStatistics(ranks: Self.rows.count), parameters: parameters)
        let outputs = Locked<[Int: ([Float], [Float])]>([:])
        onThreads(models.count) { r in
            let yr = models[r].forward(Self.slice(x, replica: r), training: true).array
            let dxr = models[r].backward(Self.slice(dy, replica: r))!.array
            outputs.mutate { $0[r] = (yr, dxr) }
        }
        let results = outputs.value
        let yAll = (0..<models.count).flatMap { results[$0]!.0 }
        let dxAll = (0..<models.count).flatMap { results[$0]!.1 }
        #expect(zip(yAll, y).map { abs($0 - $1) }.max()! < 1e-5)
        #expect(zip(dxAll, dx).map { abs($0 - $1) }.max()! < 1e-5)
        var gradients = [Float](repeating: 0, count: reference.parameterCount)
        for m in models { for i in gradients.indices { gradients[i] += m.gradients[i] } }
        #expect(zip(gradients, reference.gradients.array).map { abs($0 - $1) }.max()! < 1e-4)
        for m in models {
            #expect(m.buffers.array == models[0].buffers.array, "every replica's running statistics are the same")
            #expect(zip(m.buffers.array, reference.buffers.array).map { abs($0 - $1) }.max()! < 1e-5)
        }
    }

    /// Finite differences of the replicas' summed objective Σ_r Σ y_r ⊙ R_r: the synchronised backward's dx on every
    /// replica, and ∂γ, ∂β summed over replicas (the gradient all-reduce) for the parameters all replicas share.
    @Test(arguments: shapes)
    func synchronisedBackwardMatchesFiniteDifferences(_ shape: FeatureShape) {
        var probe = Probe(seed: 81)
        let ranks = Self.rows.count
        let xs = Self.rows.map { probe.tensor([$0, shape.count], scale: 2) }
        let rs = Self.rows.map { probe.tensor([$0, shape.count]) }
        let models = Self.replicas(shape, ThreadStatistics(ranks: ranks), parameters: probe.tensor([2 * shape.channels]))
        let grads = Locked<[Int: [Float]]>([:])
        onThreads(ranks) { r in
            _ = models[r].forward(xs[r], training: true)
            let dx = models[r].backward(rs[r].copy())!.array
            grads.mutate { $0[r] = dx }
        }
        let f: () -> Double = {
            let total = Locked(0.0)
            onThreads(ranks) { r in
                let v = objective(models[r].forward(xs[r], training: true), rs[r])
                total.mutate { $0 += v }
            }
            return total.value
        }
        for r in 0..<ranks {
            let e = worstError(variable: xs[r], analytic: grads.value[r]!, indices: Array(0..<xs[r].count), h: 1e-2, f: f)
            #expect(e < 5e-3, "replica \(r) dx: \(e)")
        }
        var worst = 0.0
        for i in 0..<models[0].parameterCount {
            let analytic = models.reduce(0.0) { $0 + Double($1.gradients[i]) }
            let saved = models[0].parameters[i]
            for m in models { m.parameters[i] = saved + 1e-2 }
            let plus = f()
            for m in models { m.parameters[i] = saved - 1e-2 }
            let minus = f()
            for m in models { m.parameters[i] = saved }
            worst = max(worst, abs((plus - minus) / 2e-2 - analytic) / max(1, abs(analytic)))
        }
        #expect(worst < 5e-3, "∂γ, ∂β summed over replicas: \(worst)")
    }

    /// A failed reduction leaves the layer with its own batch's statistics (the worker then fails the step).
    @Test func aFailedReductionFallsBackToLocalStatistics() {
        let shape = FeatureShape(channels: 2, height: 2, width: 2)
        var probe = Probe(seed: 82)
        let parameters = probe.tensor([4])
        let shared = ThreadStatistics(ranks: 2)
        shared.failing = true
        let model = Self.replicas(shape, shared, parameters: parameters)[0]
        let local = Sequential([BatchNorm(shape: shape, momentum: 0.3)], inputFeatures: shape.count)
        local.initialize(.heNormal, seed: 1)
        local.parameters.assign(parameters)
        let x = probe.tensor([3, shape.count])
        #expect(model.forward(x, training: true).array == local.forward(x, training: true).array)
    }
}

/// A value shared between test threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
