import ArgumentParser
import Config
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
    @Option(help: "Fine-tune for N steps of batch 128 after pruning (masks kept; momentum 0.9, cosine-decayed lr).")
    var fineTuneSteps = 0
    @Option(help: "Fine-tuning learning rate.") var lr: Float = 0.01
    @Flag(help: "Unstructured: prune gradually during fine-tuning (Zhu & Gupta cubic schedule over its first 2/3).")
    var gradual = false
    @Option(help: "Fashion-MNIST folder (default: the standard one).") var dataPath: String?
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard sparsity >= 0 && sparsity < 1 else {
            throw ValidationError("--sparsity \(sparsity): expected a fraction in [0, 1)")
        }
        guard scope == "global" || scope == "layer" else { throw ValidationError("--scope \(scope): expected global or layer") }
        guard fineTuneSteps >= 0 else { throw ValidationError("--fine-tune-steps \(fineTuneSteps): expected ≥ 0") }
        guard !gradual || (fineTuneSteps >= 3 && !structured) else {
            throw ValidationError("--gradual: needs unstructured pruning and --fine-tune-steps of at least 3")
        }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr \(lr): expected a positive number") }
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
        meta[Int8ModelExport.qatScalesKey] = nil  // QAT's activation ranges were of the unpruned weights
        var pruned: Sequential
        var masks: [Int: [Float]] = [:]
        if structured {
            let r = try StructuredPruning.shrink(source.model, sparsity: sparsity)
            pruned = r.model
            meta["layers"] = r.widths.map(String.init).joined(separator: ",")
            meta["pruning"] = "structured:\(sparsity)"
        } else {
            if !gradual { masks = try MagnitudePruning.prune(source.model, sparsity: sparsity, global: scope == "global") }
            pruned = source.model
            meta["pruning"] = "unstructured-\(scope)\(gradual ? "-gradual" : ""):\(sparsity)"
        }
        if fineTuneSteps > 0 {
            pruned = try fineTune(pruned, source: source, widths: meta["layers"] ?? "", masks: masks)
            meta["fine_tune_steps"] = String(fineTuneSteps)
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

    /// Trains the pruned model for `fineTuneSteps` on the model's training set with its masks (or the gradual
    /// schedule) held by `Trainer.parameterConstraints`; returns the trained model.
    private func fineTune(_ model: Sequential, source: ModelFile, widths: String, masks: [Int: [Float]]) throws -> Sequential {
        var job = JobSpec()
        job.model.layers = widths.split(separator: ",").compactMap { Int($0) }
        job.model.activation = source.activation.rawValue
        job.optimizer.name = "momentum"
        job.optimizer.lr = lr
        job.optimizer.momentum = 0.9
        job.schedule.name = "cosine"
        job.batchSize = 128
        job.steps = fineTuneSteps
        job.data.standardize = false
        let loop = try TrainingLoop(job: job, data: try source.loadData(dataPath: dataPath))
        let tuned = loop.trainer.model
        guard tuned.parameterCount == model.parameterCount else {
            throw PruningError("fine-tuning model has \(tuned.parameterCount) parameters, the pruned one \(model.parameterCount)")
        }
        tuned.parameters.pointer.update(from: model.parameters.pointer, count: model.parameterCount)
        if gradual {
            loop.trainer.parameterConstraints = [
                try GradualPruning(
                    model: tuned, finalSparsity: sparsity, steps: max(1, fineTuneSteps * 2 / 3),
                    interval: max(1, fineTuneSteps / 100), global: scope == "global")
            ]
        } else if !masks.isEmpty {
            loop.trainer.parameterConstraints = [PruningMask(model: tuned, denseMasks: masks)]
        }
        try loop.run()
        return tuned
    }
}
