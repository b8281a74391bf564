import Foundation
import NN
import Tensors
import Testing

/// Two steps on w = [1, −2], with gradients [0.5, −1] then [0.25, 2], checked against the update rules written
/// out by hand in Double.
@Suite struct OptimizerTests {
    let w0: [Double] = [1, -2]
    let g1: [Double] = [0.5, -1]
    let g2: [Double] = [0.25, 2]

    func run(_ opt: Optimizer) -> [Float] {
        let w = Tensor(shape: [2], values: w0.map(Float.init))
        for g in [g1, g2] { opt.update(parameters: w, gradients: Tensor(shape: [2], values: g.map(Float.init))) }
        return w.array
    }

    func close(_ a: [Float], _ b: [Double]) -> Bool { zip(a, b).allSatisfy { abs(Double($0) - $1) < 1e-5 * max(1, abs($1)) } }

    @Test func sgd() {
        let lr = 0.1
        let expected = (0..<2).map { w0[$0] - lr * g1[$0] - lr * g2[$0] }
        #expect(close(run(SGD(learningRate: 0.1)), expected))
    }

    @Test func momentum() {
        let lr = 0.1
        let mu = 0.9
        let expected = (0..<2).map { i -> Double in
            let v1 = g1[i]
            let v2 = mu * v1 + g2[i]
            return w0[i] - lr * v1 - lr * v2
        }
        #expect(close(run(Momentum(learningRate: 0.1, momentum: 0.9)), expected))
    }

    @Test func nesterov() {
        let lr = 0.1
        let mu = 0.9
        let expected = (0..<2).map { i -> Double in
            let v1 = g1[i]
            let v2 = mu * v1 + g2[i]
            return w0[i] - lr * (g1[i] + mu * v1) - lr * (g2[i] + mu * v2)
        }
        #expect(close(run(Momentum(learningRate: 0.1, momentum: 0.9, nesterov: true)), expected))
    }

    @Test func adagrad() {
        let lr = 0.1
        let eps = 1e-10
        let expected = (0..<2).map { i -> Double in
            let s1 = g1[i] * g1[i]
            let s2 = s1 + g2[i] * g2[i]
            return w0[i] - lr * g1[i] / (s1.squareRoot() + eps) - lr * g2[i] / (s2.squareRoot() + eps)
        }
        #expect(close(run(Adagrad(learningRate: 0.1)), expected))
    }

    @Test func rmsprop() {
        let lr = 0.01
        let a = 0.99
        let eps = 1e-8
        let expected = (0..<2).map { i -> Double in
            let s1 = (1 - a) * g1[i] * g1[i]
            let s2 = a * s1 + (1 - a) * g2[i] * g2[i]
            return w0[i] - lr * g1[i] / (s1.squareRoot() + eps) - lr * g2[i] / (s2.squareRoot() + eps)
        }
        #expect(close(run(RMSProp(learningRate: 0.01)), expected))
    }

    func adamExpected(lr: Double, wd: Double) -> [Double] {
        let b1 = 0.9
        let b2 = 0.999
        let eps = 1e-8
        return (0..<2).map { i -> Double in
            var w = w0[i]
            var m = 0.0
            var v = 0.0
            for (t, g) in [g1[i], g2[i]].enumerated() {
                w *= 1 - lr * wd
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                let mh = m / (1 - pow(b1, Double(t + 1)))
                let vh = v / (1 - pow(b2, Double(t + 1)))
                w -= lr * mh / (vh.squareRoot() + eps)
            }
            return w
        }
    }

    @Test func adam() { #expect(close(run(Adam(learningRate: 0.01)), adamExpected(lr: 0.01, wd: 0))) }

    @Test func adamW() {
        #expect(close(run(Adam.adamW(learningRate: 0.01, weightDecay: 0.1)), adamExpected(lr: 0.01, wd: 0.1)))
        // The decay is decoupled: it must differ from Adam on the same gradients.
        #expect(!close(run(Adam.adamW(learningRate: 0.01, weightDecay: 0.1)), adamExpected(lr: 0.01, wd: 0)))
    }

    @Test func l1L2AndClipping() {
        let w = Tensor(shape: [3], values: [2, -1, 0])
        let g = Tensor(shape: [3], values: [3, 4, 0])
        Regularization(l1: 0.5, l2: 0.1).apply(parameters: w, gradients: g)
        #expect(g.array == [3 + 0.2 + 0.5, 4 - 0.1 - 0.5, 0])
        let h = Tensor(shape: [2], values: [3, 4])
        let norm = Regularization(clipNorm: 1).apply(parameters: Tensor(shape: [2]), gradients: h)
        #expect(abs(norm - 5) < 1e-6)
        #expect(abs(h[0] - 0.6) < 1e-6 && abs(h[1] - 0.8) < 1e-6)
        let small = Tensor(shape: [2], values: [0.3, 0.4])
        clipGlobalNorm(small, maxNorm: 1)
        #expect(small.array == [0.3, 0.4])
    }

    /// State round trip through JSON: a resumed optimizer continues exactly like the original.
    @Test(arguments: ["momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
    func stateRoundTrip(_ name: String) throws {
        let a = try makeOptimizer(name: name, learningRate: 0.01, weightDecay: 0.01)
        let w = Tensor(shape: [2], values: [1, -2])
        a.update(parameters: w, gradients: Tensor(shape: [2], values: [0.5, -1]))
        let data = try JSONEncoder().encode(a.state())
        let b = try makeOptimizer(name: name, learningRate: 0.01, weightDecay: 0.01)
        try b.load(JSONDecoder().decode(OptimizerState.self, from: data))
        #expect(b.step == 1)
        let wa = w.copy()
        let wb = w.copy()
        let g = Tensor(shape: [2], values: [0.25, 2])
        a.update(parameters: wa, gradients: g)
        b.update(parameters: wb, gradients: g)
        #expect(wa.array == wb.array)
        #expect(throws: OptimizerError.self) { try SGD(learningRate: 1).load(a.state()) }
    }

    /// Split over threads, every optimizer gives bit-identical results (disjoint ranges, same arithmetic).
    @Test(arguments: ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
    func threadedUpdateMatchesSingleThread(_ name: String) throws {
        let n = (1 << 19) + 37
        var rng = Xoshiro256(seed: 8)
        let w0 = Tensor(shape: [n])
        let g = Tensor(shape: [n])
        for i in 0..<n {
            w0[i] = rng.nextUnitFloat() - 0.5
            g[i] = rng.nextUnitFloat() - 0.5
        }
        var results: [[Float]] = []
        for threads in [1, 2] {
            let opt = try makeOptimizer(name: name, learningRate: 0.01, weightDecay: 0.01)
            opt.threads = threads
            let w = w0.copy()
            opt.update(parameters: w, gradients: g)
            opt.update(parameters: w, gradients: g)
            results.append(w.array)
        }
        #expect(results[0] == results[1])
        #expect(results[0] != w0.array)
    }

    @Test func unknownOptimizerNameIsAnError() {
        #expect(throws: OptimizerError.unknown("lion")) { try makeOptimizer(name: "lion", learningRate: 1) }
    }
}

@Suite struct ScheduleTests {
    @Test func constant() {
        let s = LearningRateSchedule(base: 0.1)
        #expect(s.rate(at: 0) == 0.1 && s.rate(at: 1000) == 0.1)
    }

    @Test func stepDecay() {
        let s = LearningRateSchedule(base: 1, decay: .step(every: 10, gamma: 0.5))
        #expect(s.rate(at: 9) == 1 && s.rate(at: 10) == 0.5 && s.rate(at: 25) == 0.25)
    }

    @Test func cosine() {
        let s = LearningRateSchedule(base: 0.05, decay: .cosine(totalSteps: 100, minimum: 0))
        #expect(s.rate(at: 0) == 0.05)
        #expect(abs(s.rate(at: 50) - 0.025) < 1e-7)
        #expect(abs(Double(s.rate(at: 25)) - 0.05 * (1 + cos(Double.pi / 4)) / 2) < 1e-7)
        #expect(s.rate(at: 100) == 0 && s.rate(at: 150) == 0)
        let floor = LearningRateSchedule(base: 1, decay: .cosine(totalSteps: 10, minimum: 0.1))
        #expect(abs(floor.rate(at: 10) - 0.1) < 1e-7)
    }

    @Test func linearWarmupThenCosine() {
        let s = LearningRateSchedule(base: 1, decay: .cosine(totalSteps: 14, minimum: 0), warmupSteps: 4)
        #expect([0, 1, 2, 3].map { s.rate(at: $0) } == [0.25, 0.5, 0.75, 1])
        #expect(s.rate(at: 4) == 1)
        #expect(abs(s.rate(at: 9) - 0.5) < 1e-6)  // half-way through the 10 decay steps
    }
}
