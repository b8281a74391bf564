import CWireKernels

extension WirePrecision {
    /// Rounds `values` in place to what this precision carries on the wire (bf16: round to nearest even), the
    /// rounding a sender's own contribution undergoes: what a compressing reducer's error feedback keeps.
    public func round(_ values: UnsafeMutableBufferPointer<Float>) {
        guard let base = values.baseAddress else { return }
        ReduceKernels.quantize(base, count: values.count, wire: self)
    }

    /// Error feedback around the rounding, in one pass: x = values + residual; values ← x rounded to this
    /// precision; residual ← x − values (what the rounding dropped, added back next time), or 0 where that is not
    /// finite: a NaN or infinite gradient makes the trainer skip its step, and a residual that kept it would bring
    /// it back in every later step.
    public func round(_ values: UnsafeMutableBufferPointer<Float>, keepingResidualIn residual: UnsafeMutableBufferPointer<Float>)
    {
        guard let g = values.baseAddress, let r = residual.baseAddress else { return }
        let count = min(values.count, residual.count)
        switch self {
        case .float32:
            for i in 0..<count {
                g[i] += r[i]
                r[i] = 0
            }
        case .bfloat16: cohort_bf16_round_with_residual(ReduceKernels.isa, g, r, count)
        case .float16: cohort_f16_round_with_residual(ReduceKernels.isa, g, r, count)
        }
    }
}
