import ArgumentParser
import Foundation
import NN
import Tensors
import Training

/// `cohort compress`: turns a trained model file into a smaller or faster one.
struct Compress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress", abstract: "Quantize or prune a trained model file.",
        subcommands: [CompressQuantize.self, CompressPrune.self])
}

/// `cohort compress quantize MODEL --output OUT`: post-training int8 (per-channel weights, calibrated activations).
struct CompressQuantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Post-training int8: per-output-channel weights, per-tensor activation scales from N training batches.")

    @Argument(help: "An fp32 model file written by cohort train --output.") var model: String
    @Option(help: "Where to write the int8 model (safetensors).") var output: String
    @Option(help: "Training batches of 128 the activation ranges are measured on.") var calibrationBatches = 16
    @Option(help: "minmax | percentile") var calibration = "minmax"
    @Option(help: "The percentile of |x| for --calibration percentile.") var percentile = 99.99
    @Option(help: "Fashion-MNIST folder (default: the standard one).") var dataPath: String?
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard calibrationBatches >= 1 else {
            throw ValidationError("--calibration-batches: a calibration needs at least 1 batch, got \(calibrationBatches)")
        }
        guard calibration == "minmax" || calibration == "percentile" else {
            throw ValidationError("--calibration \(calibration): expected minmax or percentile")
        }
        guard percentile > 0 && percentile <= 100 else { throw ValidationError("--percentile \(percentile): expected (0, 100]") }
    }

    func run() throws {
        do { try quantize() } catch let e as ValidationError { throw e } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }

    private func quantize() throws {
        let source = try ModelFile.load(model)
        guard source.format != .int8 else { throw QuantizationError("\(model): already an int8 model") }
        let data = try source.loadData(dataPath: dataPath)
        let method: CalibrationMethod = calibration == "minmax" ? .minMax : .percentile(percentile)
        let batches = calibrationSet(data.train, batches: calibrationBatches, seed: 0xCA1B)
        let q = try PostTrainingQuantization.quantize(source.model, calibration: batches, method: method)
        var meta = source.metadata
        meta["quantization"] = "int8"
        meta["producer"] = "cohort compress quantize"
        meta["calibration"] = method.description
        meta["calibration_batches"] = String(batches.count)
        let dense = q.layers.compactMap { $0 as? QuantizedDense }
        meta["relu_fused"] = zip(dense, source.denseIndices).filter { $0.0.fusedReLU }.map { String($0.1) }.joined(
            separator: ",")
        try SafeTensors.write(QuantizedModelFile.tensors(q, denseIndices: source.denseIndices), metadata: meta, to: output)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        if outputOptions.json {
            print(
                BenchLine([
                    ("event", .string("quantized")), ("model", .string(model)), ("output", .string(output)),
                    ("bytes", .int(bytes ?? 0)), ("source_bytes", .int(source.bytes)),
                    ("calibration", .string(method.description)), ("calibration_batches", .int(batches.count)),
                ]).text)
        } else {
            print(
                "int8 model → \(output): \(bytes ?? 0) bytes (fp32 \(source.bytes)), calibration \(method) on \(batches.count) batches"
            )
        }
    }
}
