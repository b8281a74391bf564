import Tensors
import Testing

/// The GEMM shapes W3's convolutions run, per example (n = one map's positions) and over the whole batch.
@Suite struct ConvShapeGEMMTests {
    static let cases: [GEMMCase] = [
        GEMMCase(transA: .none, transB: .none, m: 32, n: 784, k: 9, alpha: 1, beta: 0),
        GEMMCase(transA: .none, transB: .transpose, m: 32, n: 9, k: 784, alpha: 1, beta: 1),
        GEMMCase(transA: .transpose, transB: .none, m: 9, n: 784, k: 32, alpha: 1, beta: 0),
        GEMMCase(transA: .none, transB: .none, m: 64, n: 196, k: 288, alpha: 1, beta: 0),
        GEMMCase(transA: .none, transB: .transpose, m: 64, n: 288, k: 196, alpha: 1, beta: 1),
        GEMMCase(transA: .transpose, transB: .none, m: 288, n: 196, k: 64, alpha: 1, beta: 0),
    ]

    @Test(arguments: GEMMKernel.supported)
    func convShapesMatchFloat64Reference(kernel: GEMMKernel) {
        for (i, t) in Self.cases.enumerated() {
            let r = runGEMMCase(t, kernel: kernel, seed: UInt64(i))
            #expect(r.worst <= 1, "\(kernel) \(t): error \(r.worst)× bound")
            #expect(r.guardsIntact, "\(kernel) \(t): wrote outside C")
        }
    }
}
