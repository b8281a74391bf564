import NN
import Testing

@Suite struct LayerFLOPsTests {
    /// Dense: 2·in·out each for forward, ∂K and (unless skipped) ∂x; element-wise layers 3 per element.
    @Test func denseCountsItsProductsAndElementwiseLayersTheirElements() {
        let dense = Dense(12, 7)
        #expect(dense.trainingFLOPs(input: 12) == 6 * 12 * 7)
        #expect(dense.trainingFLOPs(input: 12, needInputGradient: false) == 4 * 12 * 7)
        let elementwise: [Layer] = [ReLU(), Sigmoid(), Tanh(), Softmax(), Dropout(0.5)]
        for layer in elementwise { #expect(layer.trainingFLOPs(input: 9) == 27, "\(layer.kind)") }
    }
}
