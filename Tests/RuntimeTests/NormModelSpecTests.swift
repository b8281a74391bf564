import Config
import Foundation
import NN
import Runtime
import Tensors
import Testing

/// Normalisation and residual items in `model.layers`: built into the model, and bad settings named by layer index,
/// key and line.
@Suite struct NormModelSpecTests {
    static let exampleText = (try? String(contentsOfFile: TestFiles.repo("cluster.yaml"), encoding: .utf8)) ?? ""

    /// The example cluster file with `model:` replaced by `input` and `items` (one layer item per line).
    static func config(input: String, _ items: [String]) -> String {
        var model = "  seed: 1\n  model:\n    input: \(input)\n    layers:\n"
        for item in items { model += "      - \(item)\n" }
        return exampleText.replacingOccurrences(of: "  seed: 1\n", with: model)
    }

    @Test func layerNormItemBuildsAndRoundTrips() throws {
        let yaml = """
            job:
              model:
                input: 12
                layers:
                  - {dense: 8}
                  - {layernorm: {}}
                  - {activation: relu}
                  - {layernorm: {eps: 0.001}}
                  - {dense: 3}
            """
        let job = try JobSpec.parse(yaml: yaml, file: "ln.yaml")
        #expect(job.model.layerSpecs[1] == .layernorm(NormSpec()) && job.model.layerSpecs[3] == .layernorm(NormSpec(eps: 0.001)))
        let model = try job.makeModel()
        #expect(model.layers.map(\.kind) == ["dense", "layernorm", "relu", "layernorm", "dense"])
        #expect(model.parameterCount == (12 * 8 + 8) + 16 + 16 + (8 * 3 + 3))
        #expect((model.layers[3] as? LayerNorm)?.eps == 0.001)
        let back = try JSONDecoder().decode(JobSpec.self, from: JSONEncoder().encode(job))
        #expect(back == job)
    }

    @Test func residualItemBuildsAResNetBlock() throws {
        let yaml = """
            job:
              model:
                input: [2, 6, 6]
                layers:
                  - {conv: {out: 4, kernel: 3, padding: 1}}
                  - residual:
                      - {conv: {out: 4, kernel: 3, padding: 1}}
                      - {batchnorm: {}}
                      - {activation: relu}
                      - {conv: {out: 4, kernel: 3, padding: 1}}
                  - {globalavgpool: {}}
                  - {dense: 3}
            """
        let job = try JobSpec.parse(yaml: yaml, file: "res.yaml")
        let model = try job.makeModel()
        #expect(model.layers.map(\.kind) == ["conv", "residual", "globalavgpool", "dense"])
        let block = try #require(model.layers[1] as? Residual)
        #expect(block.body.map(\.kind) == ["conv", "batchnorm", "relu", "conv"])
        #expect(model.parameterCount == (2 * 9 * 4 + 4) + 2 * (4 * 9 * 4 + 4) + 8 + (4 * 3 + 3) && model.buffers.count == 8)
        let y = model.forward(Tensor(shape: [2, 72], repeating: 0.5), training: true)
        #expect(y.shape == [2, 3] && y.array.allSatisfy(\.isFinite))
        let back = try JSONDecoder().decode(JobSpec.self, from: JSONEncoder().encode(job))
        #expect(back == job)
    }

    /// A bad item fails `ClusterConfig.parse` naming the layer index, its key and the item's line.
    @Test(arguments: [
        ("12", "{layernorm: {eps: 0}}", "job.model.layers[1].layernorm.eps", "(0, 1]"),
        ("12", "{layernorm: {eps: -1}}", "job.model.layers[1].layernorm.eps", "(0, 1]"),
        ("12", "{layernorm: {momentum: 0.1}}", "job.model.layers[1].layernorm.momentum", "batchnorm"),
        ("12", "{batchnorm: {momentum: 0}}", "job.model.layers[1].batchnorm.momentum", "(0, 1]"),
        ("12", "{batchnorm: {momentum: 1.5}}", "job.model.layers[1].batchnorm.momentum", "(0, 1]"),
        ("12", "{batchnorm: {eps: 0}}", "job.model.layers[1].batchnorm.eps", "(0, 1]"),
        ("8", "{residual: [{dense: 4}]}", "job.model.layers[1].residual", "same shape"),
        ("8", "{residual: []}", "job.model.layers[1].residual", "at least one"),
        ("8", "{residual: [{dense: 8}, {layernorm: {eps: 2}}]}", "job.model.layers[1].residual[1].layernorm.eps", "(0, 1]"),
    ])
    func badNormSpecsNameLayerKeyAndLine(input: String, item: String, keyPath: String, message: String) {
        let text = Self.config(input: input, ["{dense: 8}", item, "{dense: 10}"])
        let expectedLine = (text.components(separatedBy: "\n").firstIndex { $0.contains("- \(item)") } ?? -1) + 1
        do {
            _ = try ClusterConfig.parse(text, file: "c.yaml")
            Issue.record("accepted \(item)")
        } catch {
            #expect(error.keyPath == keyPath)
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.line == expectedLine, "\(error)")
        }
    }
}
