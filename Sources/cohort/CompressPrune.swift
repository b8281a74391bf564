import ArgumentParser
import Foundation
import NN
import Training

/// `cohort compress prune MODEL --sparsity S --output OUT`: magnitude pruning of an fp32 model file, unstructured
/// (weights set to 0, same shapes) or `--structured` (hidden neurons removed by L2 norm: a smaller dense model).
struct CompressPrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Magnitude pruning: unstructured (global or per layer) or structured (hidden neurons removed, layers shrink).")

    @Argument(help: "An fp32 model file written by cohort train --output.") var model: String
    @Option(help: "The fraction to remove, in [0, 1): of the Dense weights, or with --structured of each hidden layer's neurons.")
    var sparsity: Double
    @Flag(help: "Remove whole hidden neurons (smallest L2 norm of their incoming weights); the layers shrink.") var structured =
        false
    @Option(help: "Unstructured ranking: global (all Dense kernels together) or layer.") var scope = "global"
    @Option(help: "Where to write the pruned model (safetensors).") var output: String
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard sparsity >= 0 && sparsity < 1 else {
            throw ValidationError("--sparsity \(sparsity): expected a fraction in [0, 1)")
        }
        guard scope == "global" || scope == "layer" else { throw ValidationError("--scope \(scope): expected global or layer") }
    }

    func run() throws {
        do { try prune() } catch let e as ValidationError { throw e } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }

    private func prune() throws {
        let source = try ModelFile.load(model)
        guard source.format != .int8 else { throw PruningError("\(model): an int8 model; prune the fp32 one, then quantize") }
        var meta = source.metadata
        meta["producer"] = "cohort compress prune"
        let pruned: Sequential
        if structured {
            let r = try StructuredPruning.shrink(source.model, sparsity: sparsity)
            pruned = r.model
            meta["layers"] = r.widths.map(String.init).joined(separator: ",")
            meta["pruning"] = "structured:\(sparsity)"
        } else {
            _ = try MagnitudePruning.prune(source.model, sparsity: sparsity, global: scope == "global")
            pruned = source.model
            meta["pruning"] = "unstructured-\(scope):\(sparsity)"
        }
        try pruned.saveSafeTensors(to: output, metadata: meta)
        let achieved = MagnitudePruning.sparsity(of: pruned)
        let params = pruned.parameterCount
        if outputOptions.json {
            print(
                BenchLine([
                    ("event", .string("pruned")), ("model", .string(model)), ("output", .string(output)),
                    ("method", .string(meta["pruning"] ?? "")), ("parameters", .int(params)),
                    ("source_parameters", .int(source.model.parameterCount)), ("zero_fraction", .fixed(achieved, digits: 4)),
                    ("layers", .string(meta["layers"] ?? "")),
                ]).text)
        } else {
            print(
                "pruned (\(meta["pruning"] ?? "")) → \(output): \(params) parameters (from \(source.model.parameterCount)), "
                    + String(format: "%.1f%% of Dense weights zero, layers %@", achieved * 100, meta["layers"] ?? ""))
        }
    }
}
