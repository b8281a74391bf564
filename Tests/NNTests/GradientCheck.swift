import NN
import Tensors

/// Finite-difference checks evaluated in Float64: the Float model is run at w ± h and the scalar objective
/// Σ y ⊙ R (R fixed and random) is summed in Double, so the numeric derivative (f(w+h) − f(w−h)) / 2h is limited by
/// the model's Float rounding, not by the sum. Comparing with the analytic gradient (backward with dy = R) at a
/// relative tolerance catches any wrong factor, sign, transpose or missing term.
struct Probe {
    var rng: Xoshiro256
    init(seed: UInt64) { rng = Xoshiro256(seed: seed) }

    mutating func tensor(_ shape: [Int], scale: Float = 1, awayFromZero: Float = 0) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count {
            var v = (rng.nextUnitFloat() * 2 - 1) * scale
            if awayFromZero > 0 && Swift.abs(v) < awayFromZero { v = v < 0 ? v - awayFromZero : v + awayFromZero }
            t[i] = v
        }
        return t
    }
}

func objective(_ y: Tensor, _ r: Tensor) -> Double {
    var s = 0.0
    for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
    return s
}

/// Worst |numeric − analytic| / max(1, |analytic|) over `indices` of `variable`, where `f` recomputes the objective.
func worstError(variable: Tensor, analytic: [Float], indices: [Int], h: Float, f: () -> Double) -> Double {
    var worst = 0.0
    for i in indices {
        let saved = variable[i]
        variable[i] = saved + h
        let plus = f()
        variable[i] = saved - h
        let minus = f()
        variable[i] = saved
        let numeric = (plus - minus) / (2 * Double(h))
        let a = Double(analytic[i])
        worst = max(worst, abs(numeric - a) / max(1, abs(a)))
    }
    return worst
}

/// Checks one model's parameter gradients and input gradient against central differences.
/// Returns (worst parameter error, worst input error).
func checkModel(
    _ model: Sequential, input x: Tensor, seed: UInt64, h: Float = 1e-2, samples: Int = 60,
    prepare: () -> Void = {}
) -> (params: Double, input: Double) {
    var probe = Probe(seed: seed)
    model.computesInputGradient = true
    prepare()
    let y = model.forward(x, training: true)
    let r = probe.tensor(y.shape)
    let dy = r.copy()
    let dx = model.backward(dy)!.array
    let grads = model.gradients.array
    let f: () -> Double = {
        prepare()
        return objective(model.forward(x, training: true), r)
    }
    var pick = Xoshiro256(seed: seed &+ 1)
    let pIdx = (0..<min(samples, model.parameterCount)).map { _ in Int(pick.next() % UInt64(max(model.parameterCount, 1))) }
    let xIdx = (0..<min(samples, x.count)).map { _ in Int(pick.next() % UInt64(x.count)) }
    let pErr = model.parameterCount == 0 ? 0 : worstError(variable: model.parameters, analytic: grads, indices: pIdx, h: h, f: f)
    let xErr = worstError(variable: x, analytic: dx, indices: xIdx, h: h, f: f)
    return (pErr, xErr)
}
