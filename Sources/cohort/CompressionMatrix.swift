import Config
import Foundation
import NN
import Training

/// The model files of `cohort compress report` for one workload: the fp32 model trained from its recipe, then each
/// compression of it, every one written as the file its own command would write (so `cohort eval` reads them too).
struct CompressionMatrix {
    /// One compressed model: its file and how it was made.
    struct Entry {
        let workload: String
        let method: String
        let path: String
        let note: String
    }

    let job: JobSpec
    let data: JobData
    let directory: String
    /// Steps of QAT and pruning fine-tuning.
    let fineTuneSteps: Int
    let distill: Bool
    let threads: Int
    let log: (String) -> Void

    private var name: String { job.workload ?? "custom" }
    private func path(_ method: String) -> String {
        (directory as NSString).appendingPathComponent("\(name)-\(method).safetensors")
    }

    /// Trains and compresses; returns the entries in table order (fp32 first).
    func run() throws -> [Entry] {
        let fp32 = path("fp32")
        log("\(name): training fp32 \(job.model.layers.map(String.init).joined(separator: "-"))")
        let trained = try train(job)
        try Train.saveWeights(trained.model, to: fp32, job: job, data: data)
        let source = try ModelFile.load(fp32)
        var entries = [Entry(workload: name, method: "fp32", path: fp32, note: "\(trained.steps) steps")]
        entries.append(try postTraining(source))
        entries.append(try quantizationAware(source))
        entries.append(try unstructured(source))
        entries.append(try structured(source))
        if distill { entries += try students(teacher: fp32) }
        return entries
    }

    /// Post-training int8, 16 calibration batches of 128, min/max (`compress quantize`'s defaults).
    private func postTraining(_ source: ModelFile) throws -> Entry {
        log("\(name): int8 post-training")
        let batches = calibrationSet(data.train, batches: 16, seed: 0xCA1B)
        let q = try PostTrainingQuantization.quantize(source.model, calibration: batches)
        let out = path("int8-ptq")
        try Int8ModelExport.write(
            q, source: source, metadata: ["producer": "cohort compress report", "calibration": "minmax"], to: out)
        return Entry(workload: name, method: "int8 PTQ", path: out, note: "min/max on \(batches.count) batches")
    }

    /// QAT fine-tuning of the fp32 weights, then int8 with the observers' scales.
    private func quantizationAware(_ source: ModelFile) throws -> Entry {
        log("\(name): int8 QAT, \(fineTuneSteps) fine-tuning steps")
        var qat: QuantizationAwareTraining?
        let model = try fineTune(source.model, widths: source.widths) { m in
            qat = try QuantizationAwareTraining(model: m)
            return [qat!]
        }
        guard let scales = qat?.inputScales else { throw QuantizationError("\(name): QAT observed no activations") }
        let q = try PostTrainingQuantization.quantize(model, inputScales: scales)
        let out = path("int8-qat")
        try Int8ModelExport.write(
            q, source: source, metadata: ["producer": "cohort compress report", "calibration": "qat"], to: out)
        return Entry(workload: name, method: "int8 QAT", path: out, note: "\(fineTuneSteps) QAT fine-tuning steps")
    }

    /// 90% of the Dense weights zeroed, gradually (cubic schedule over 2/3 of the fine-tuning), masks held.
    private func unstructured(_ source: ModelFile) throws -> Entry {
        log("\(name): unstructured 90%")
        let steps = fineTuneSteps
        let model = try fineTune(source.model, widths: source.widths) { m in
            [try GradualPruning(model: m, finalSparsity: 0.9, steps: max(1, steps * 2 / 3), interval: max(1, steps / 100))]
        }
        let out = path("pruned-90")
        var meta = source.metadata
        meta["producer"] = "cohort compress report"
        meta["pruning"] = "unstructured-global-gradual:0.9"
        try model.saveSafeTensors(to: out, metadata: meta)
        return Entry(
            workload: name, method: "pruned 90% (unstructured)", path: out,
            note: String(
                format: "%.1f%% zero, stored dense; %d fine-tuning steps", MagnitudePruning.sparsity(of: model) * 100, steps))
    }

    /// Each hidden layer shrunk to half its neurons (by L2 norm), then fine-tuned.
    private func structured(_ source: ModelFile) throws -> Entry {
        log("\(name): structured half")
        let shrunk = try StructuredPruning.shrink(source.model, sparsity: 0.5)
        let model = try fineTune(shrunk.model, widths: shrunk.widths) { _ in [] }
        let out = path("structured-50")
        var meta = source.metadata
        meta["producer"] = "cohort compress report"
        meta["layers"] = shrunk.widths.map(String.init).joined(separator: ",")
        meta["pruning"] = "structured:0.5"
        try model.saveSafeTensors(to: out, metadata: meta)
        return Entry(
            workload: name, method: "structured 50%", path: out,
            note: "layers \(shrunk.widths.map(String.init).joined(separator: "-")); \(fineTuneSteps) fine-tuning steps")
    }

    /// A 784-64-10 student trained alone and taught by the fp32 model (T 4, α 0.9), with the workload's steps.
    private func students(teacher: String) throws -> [Entry] {
        var student = job
        student.model.layers = [job.model.layers[0], 64, job.model.layers[job.model.layers.count - 1]]
        student.model.dropout = 0
        var entries: [Entry] = []
        for taught in [false, true] {
            log("\(name): student 784-64-10 \(taught ? "distilled" : "alone")")
            var j = student
            if taught { j.distillation = DistillationSpec(teacher: teacher, temperature: 4, alpha: 0.9) }
            let trained = try train(j)
            let out = path(taught ? "student-distilled" : "student")
            try Train.saveWeights(trained.model, to: out, job: j, data: data)
            entries.append(
                Entry(
                    workload: name, method: taught ? "student 784-64-10 distilled" : "student 784-64-10 alone",
                    path: out, note: taught ? "teacher \(name) fp32, T 4, α 0.9" : "\(trained.steps) steps"))
        }
        return entries
    }

    private func train(_ job: JobSpec) throws -> (model: Sequential, steps: Int) {
        let loop = try TrainingLoop(job: job, data: data, threads: threads)
        try loop.run()
        return (loop.trainer.model, loop.trainer.step)
    }

    /// `fineTuneSteps` of the workload's optimizer at a tenth of its rate, cosine-decayed, from `start`'s weights, with
    /// `constraints` on the fine-tuned model. Returns the fine-tuned model.
    private func fineTune(
        _ start: Sequential, widths: [Int], constraints: (Sequential) throws -> [any ParameterConstraint]
    ) throws -> Sequential {
        var j = job
        j.model.layers = widths
        j.model.dropout = 0
        j.steps = fineTuneSteps
        j.optimizer.lr = job.optimizer.lr / 10
        j.schedule.name = "cosine"
        j.schedule.minLR = 0
        j.schedule.warmupSteps = 0
        j.compression = nil
        j.distillation = nil
        j.earlyStoppingPatience = nil
        let loop = try TrainingLoop(job: j, data: data, threads: threads)
        let model = loop.trainer.model
        guard model.parameterCount == start.parameterCount else {
            throw PruningError("fine-tuning model has \(model.parameterCount) parameters, the start \(start.parameterCount)")
        }
        model.parameters.pointer.update(from: start.parameters.pointer, count: start.parameterCount)
        loop.trainer.parameterConstraints = try constraints(model)
        try loop.run()
        return model
    }
}
