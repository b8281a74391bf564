import ArgumentParser
import Foundation
import NN
import Tensors
import Training

/// `cohort compress`: turns a trained model file into a smaller or faster one.
struct Compress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress", abstract: "Quantize or prune a trained model file, or report every compression of W1/W2.",
        subcommands: [CompressQuantize.self, CompressPrune.self, CompressReport.self])
}

/// `cohort compress quantize MODEL --output OUT`: post-training int8 (per-channel weights, calibrated activations).
struct CompressQuantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract:
            "Int8: per-output-channel weights, per-tensor activation scales from N training batches (or from QAT, when the file was trained with it)."
    )

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
        let method: CalibrationMethod = calibration == "minmax" ? .minMax : .percentile(percentile)
        let q: Sequential
        var meta = ["producer": "cohort compress quantize"]
        var described: String
        if let scales = try Int8ModelExport.qatScales(source) {
            // Trained with QAT: the observers' scales are the ones the weights learned around (PyTorch's convert).
            q = try PostTrainingQuantization.quantize(source.model, inputScales: scales)
            meta["calibration"] = "qat"
            described = "scales from quantization-aware training"
        } else {
            let data = try source.loadData(dataPath: dataPath)
            let batches = calibrationSet(data.train, batches: calibrationBatches, seed: 0xCA1B)
            q = try PostTrainingQuantization.quantize(source.model, calibration: batches, method: method)
            meta["calibration"] = method.description
            meta["calibration_batches"] = String(batches.count)
            described = "calibration \(method) on \(batches.count) batches"
        }
        let bytes = try Int8ModelExport.write(q, source: source, metadata: meta, to: output)
        if outputOptions.json {
            print(
                BenchLine([
                    ("event", .string("quantized")), ("model", .string(model)), ("output", .string(output)),
                    ("bytes", .int(bytes)), ("source_bytes", .int(source.bytes)),
                    ("calibration", .string(meta["calibration"] ?? "")),
                    ("calibration_batches", .int(Int(meta["calibration_batches"] ?? "") ?? 0)),
                ]).text)
        } else {
            print(
                "int8 model → \(output): \(bytes) bytes (fp32 \(source.bytes)), \(described)"
            )
        }
    }
}
