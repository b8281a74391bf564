extension WirePrecision {
    /// Rounds `values` in place to what this precision carries on the wire (bf16: round to nearest even), the
    /// rounding a sender's own contribution undergoes: what a compressing reducer's error feedback keeps.
    public func round(_ values: UnsafeMutableBufferPointer<Float>) {
        guard let base = values.baseAddress else { return }
        ReduceKernels.quantize(base, count: values.count, wire: self)
    }
}
