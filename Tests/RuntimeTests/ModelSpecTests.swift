import Config
import Foundation
import NN
import Runtime
import Tensors
import Testing

@Suite struct ModelSpecTests {
    static let widthForm = """
        job:
          seed: 11
          model:
            layers: [12, 9, 7, 4]
            activation: tanh
            dropout: 0.25
        """
    static let listForm = """
        job:
          seed: 11
          model:
            input: 12
            layers:
              - {dense: 9}
              - {activation: tanh}
              - {dropout: 0.25}
              - {dense: 7}
              - {activation: tanh}
              - {dropout: 0.25}
              - {dense: 4}
        """

    /// The same seeded model from both forms: equal kinds, parameter count, parameters and outputs (dropout masks
    /// included, in a training-mode forward).
    @Test func bothFormsBuildTheSameModel() throws {
        let a = try JobSpec.parse(yaml: Self.widthForm, file: "a.yaml")
        let b = try JobSpec.parse(yaml: Self.listForm, file: "b.yaml")
        #expect(b.model.layers == [12, 9, 7, 4] && b.model.stack != nil && a.model.stack == nil)
        #expect(a.model.layerSpecs == b.model.layerSpecs)
        let ma = try a.makeModel()
        let mb = try b.makeModel()
        #expect(ma.layers.map(\.kind) == mb.layers.map(\.kind))
        #expect(ma.parameterCount == mb.parameterCount && ma.parameterCount == 12 * 9 + 9 + 9 * 7 + 7 + 7 * 4 + 4)
        #expect(ma.parameters.array == mb.parameters.array)
        let x = Tensor(shape: [5, 12])
        for i in 0..<x.count { x.pointer[i] = Float(i % 11) / 5 - 1 }
        for training in [false, true] {
            let ya = ma.forward(x, training: training).array
            let yb = mb.forward(x, training: training).array
            #expect(ya == yb, "training \(training)")
            #expect(ya.contains { $0 != 0 })
        }
    }

    @Test func aLayerListSurvivesTheWireAndWidthsReplaceIt() throws {
        let job = try JobSpec.parse(yaml: Self.listForm, file: "b.yaml")
        let back = try JSONDecoder().decode(JobSpec.self, from: JSONEncoder().encode(job))
        #expect(back == job)
        var widths = job
        widths.model.layers = [12, 4]
        #expect(widths.model.stack == nil && widths.model.layerSpecs == [.dense(4)])
    }

    @Test(arguments: [
        ("    input: 12\n    layers: [{dense: 9}, {convolution: 3}]", "job.model.layers[1].convolution", "unknown key", 4),
        ("    input: 12\n    layers: [{dense: 0}]", "job.model.layers[0].dense", "must be ≥ 1", 4),
        (
            "    input: 12\n    layers:\n      - {dense: 9}\n      - {activation: swish}", "job.model.layers[1].activation",
            "swish", 6
        ),
        ("    input: 12\n    layers: [{dense: 9, activation: relu}]", "job.model.layers[0]", "one key", 4),
        ("    layers: [{dense: 9}]", "job.model.input", "missing required key", 3),
        ("    input: 12\n    layers: [12, 4]", "job.model.input", "only with a list of layers", 3),
        ("    input: 12\n    activation: relu\n    layers: [{dense: 4}]", "job.model.activation", "only with a width list", 4),
    ])
    func badLayerListsNameKeyAndLine(model: String, keyPath: String, message: String, line: Int) {
        do {
            _ = try JobSpec.parse(yaml: "job:\n  model:\n\(model)\n", file: "m.yaml")
            Issue.record("accepted a bad model: \(model)")
        } catch let error as ConfigError {
            #expect(error.keyPath == keyPath)
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.line == line, "\(error)")
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("\(error)")
        }
    }
}
