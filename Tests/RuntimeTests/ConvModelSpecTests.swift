import Config
import Foundation
import NN
import Runtime
import Tensors
import Testing

/// Convolutional models from the job section: `input: [C, H, W]` and conv/pool/flatten items in `layers`.
@Suite struct ConvModelSpecTests {
    static let w3YAML = """
        job:
          seed: 11
          model:
            input: [1, 28, 28]
            layers:
              - {conv: {out: 32, kernel: 3, stride: 1, padding: 1, groups: 1}}
              - {activation: relu}
              - {maxpool: 2}
              - {conv: {out: 64, kernel: 3, padding: 1}}
              - {activation: relu}
              - {maxpool: {kernel: 2, stride: 2}}
              - {flatten: {}}
              - {dense: 128}
              - {activation: relu}
              - {dense: 10}
        """

    @Test func theW3ListBuildsTheRecipesModel() throws {
        let job = try JobSpec.parse(yaml: Self.w3YAML, file: "w3.yaml")
        #expect(job.model.inputShape == [1, 28, 28])
        #expect(job.model.layers == [784, 32 * 28 * 28, 64 * 14 * 14, 128, 10])
        var recipe = JobSpec.w3.model
        recipe.initializer = job.model.initializer
        #expect(job.model.layerSpecs.count == recipe.layerSpecs.count && job.model.layers == recipe.layers)
        try job.validate()
        let model = try job.makeModel()
        #expect(
            model.layers.map(\.kind) == [
                "conv", "relu", "maxpool", "conv", "relu", "maxpool", "flatten", "dense", "relu", "dense",
            ])
        #expect(model.parameterCount == (32 * 9 + 32) + (64 * 288 + 64) + (3136 * 128 + 128) + (128 * 10 + 10))
        #expect(model.inputFeatures == 784 && model.outputFeatures == 10)
        let y = model.forward(Tensor(shape: [3, 784], repeating: 0.5), training: true)
        #expect(y.shape == [3, 10] && y.array.allSatisfy(\.isFinite))
        let back = try JSONDecoder().decode(JobSpec.self, from: JSONEncoder().encode(job))
        #expect(back == job)
    }

    @Test func recipesW3AndW4BuildAndW4IsCheaper() throws {
        let w3 = try JobSpec.w3.makeModel()
        let w4 = try JobSpec.w4.makeModel()
        #expect(w3.inputFeatures == 784 && w4.inputFeatures == 784 && w3.outputFeatures == 10 && w4.outputFeatures == 10)
        func flops(_ m: Sequential) -> Double {
            var width = m.inputFeatures
            var total = 0.0
            for layer in m.layers {
                total += layer.trainingFLOPs(input: width)
                width = layer.outputFeatures(forInput: width) ?? width
            }
            return total
        }
        #expect(flops(w4) * 4 <= flops(w3) && w4.parameterCount * 4 <= w3.parameterCount)
        #expect(JobSpec.recipe(named: "fmnist-cnn")?.workload == "W3" && JobSpec.recipe(named: "W4")?.workload == "W4")
    }

    static let exampleText = (try? String(contentsOfFile: TestFiles.repo("cluster.yaml"), encoding: .utf8)) ?? ""

    /// A bad item fails `ClusterConfig.parse` naming the layer index, its key and the item's line.
    @Test(arguments: [
        ("[1, 4, 4]", "{conv: {out: 2, kernel: 5}}", "", "job.model.layers[0].conv.kernel", "larger than"),
        (
            "[1, 8, 8]", "{conv: {out: 4, kernel: 3}}", "{conv: {out: 4, kernel: 3, in: 3}}", "job.model.layers[1].conv.in",
            "channels"
        ),
        ("[2, 8, 8]", "{conv: {out: 4, kernel: 3, groups: 3}}", "", "job.model.layers[0].conv.groups", "divide"),
        ("[1, 8, 8]", "{conv: {out: 4, kernel: 3, padding: -1}}", "", "job.model.layers[0].conv.padding", "≥ 0"),
        ("[1, 8, 8]", "{conv: {out: 2, kernel: 3}}", "{maxpool: 7}", "job.model.layers[1].maxpool.kernel", "larger than"),
        ("784", "{conv: {out: 2, kernel: 3}}", "", "job.model.layers[0].conv.kernel", "model.input as a shape"),
    ])
    func badConvSpecsNameLayerKeyAndLine(input: String, first: String, second: String, keyPath: String, message: String) {
        var model = "  seed: 1\n  model:\n    input: \(input)\n    layers:\n      - \(first)\n"
        if !second.isEmpty { model += "      - \(second)\n" }
        model += "      - {dense: 10}\n"
        let text = Self.exampleText.replacingOccurrences(of: "  seed: 1\n", with: model)
        let badItem = second.isEmpty || keyPath.contains("[0]") ? first : second
        let lines = text.components(separatedBy: "\n")
        let expectedLine = (lines.firstIndex { $0.contains("- \(badItem)") } ?? -1) + 1
        do {
            _ = try ClusterConfig.parse(text, file: "c.yaml")
            Issue.record("accepted \(first) \(second)")
        } catch {
            #expect(error.keyPath == keyPath)
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.line == expectedLine, "\(error)")
        }
    }

    @Test func widthFormAndFlatListsStillWork() throws {
        var job = JobSpec()
        job.model.layers = [784, 256, 128, 10]
        #expect(job.model.inputShape == nil && job.model.stack == nil)
        #expect(try job.makeModel().parameterCount == 784 * 256 + 256 + 256 * 128 + 128 + 1290)
        job.model = ModelSpec(input: 12, stack: [.dense(8), .activation("gelu"), .dense(3)])
        #expect(job.model.layers == [12, 8, 3])
        #expect(try job.makeModel().layers.map(\.kind) == ["dense", "gelu", "dense"])
    }
}
