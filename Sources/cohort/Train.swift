import ArgumentParser
import CProcess
import Config
import Foundation
import NN
import Runtime
import Training

/// Flags that override single fields of a job spec (after `--config` and `--workload`).
struct JobOptions: ParsableArguments {
    @Option(help: "YAML file with a job: section (e.g. cluster.yaml).") var config: String?
    @Option(
        help:
            "Recipe: W1 (fmnist-mlp), W2 (wide-mlp), W3 (fmnist-cnn) or W4 (fmnist-mobile); other flags override single settings."
    ) var workload: String?

    @Option(help: "Layer widths incl. input and output, e.g. 784,256,128,10.", transform: CommaList.parse)
    var layers: CommaList<Int>?
    @Option(help: "relu | sigmoid | tanh | gelu") var activation: String?
    @Option(help: "Dropout probability after each hidden activation.") var dropout: Float?
    @Option(name: .customLong("init"), help: "uniform | normal | xavier_uniform | xavier_normal | he_uniform | he_normal")
    var initializer: String?

    @Option(help: "sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw") var optimizer: String?
    @Option(help: "Learning rate.") var lr: Float?
    @Option(help: "Momentum (momentum, nesterov).") var momentum: Float?
    @Option var beta1: Float?
    @Option var beta2: Float?
    @Option var eps: Float?
    @Option(help: "Decoupled weight decay (adamw).") var weightDecay: Float?

    @Option(help: "constant | step | cosine") var schedule: String?
    @Option(help: "Linear warm-up steps.") var warmupSteps: Int?
    @Option(help: "step schedule: decay every N steps.") var stepSize: Int?
    @Option(help: "step schedule: decay factor.") var gamma: Float?
    @Option(help: "cosine schedule: final learning rate.") var minLr: Float?

    @Option(help: "L1 penalty.") var l1: Float?
    @Option(help: "L2 penalty (coupled, added to the gradient).") var l2: Float?
    @Option(help: "Clip gradients to this global norm.") var clipNorm: Float?

    @Option(help: "Epochs.") var epochs: Int?
    @Option(help: "Train for this many steps instead of whole epochs.") var steps: Int?
    @Option(help: "Global batch size.") var batchSize: Int?
    @Option(help: "Seed for initialisation, shuffling and dropout.") var seed: UInt64?
    @Option(help: "Stop after N epochs without validation improvement; restores the best weights.") var earlyStoppingPatience:
        Int?

    @Option(help: "fashion-mnist | synthetic | csv") var dataset: String?
    @Option(help: "Data folder (fashion-mnist) or file (csv).") var dataPath: String?
    @Option(help: "Fraction of the training set held out for validation.") var validationFraction: Float?
    @Flag(inversion: .prefixedNo, help: "Standardise inputs with the training set's mean and std.") var standardize: Bool?
    @Flag(inversion: .prefixedNo, help: "Use synthetic data when the data set is missing.") var syntheticFallback: Bool?
    @Flag(inversion: .prefixedNo, help: "Skip each epoch's last short batch.") var dropLast: Bool?
    @Option(help: "Use at most N training examples (synthetic: generate N).") var maxTrainExamples: Int?
    @Option(help: "Use at most N test examples.") var maxTestExamples: Int?
    @Option(help: "Quantization-aware training (int8 fake quantization) from this optimizer step on (job.compression.qat).")
    var qatStartStep: Int?

    /// defaults → --config's job: → --workload → single flags.
    func jobSpec() throws -> JobSpec {
        var job = JobSpec()
        if let config { job = try JobSpec.load(configFile: config) }
        if let workload {
            guard let recipe = JobSpec.recipe(named: workload) else {
                throw ValidationError("--workload: expected W1 or W2, got \"\(workload)\"")
            }
            job = recipe
        }
        if let layers { job.model.layers = layers.items }
        if let activation { job.model.activation = activation }
        if let dropout { job.model.dropout = dropout }
        if let initializer { job.model.initializer = initializer }
        if let optimizer { job.optimizer.name = optimizer }
        if let lr { job.optimizer.lr = lr }
        if let momentum { job.optimizer.momentum = momentum }
        if let beta1 { job.optimizer.beta1 = beta1 }
        if let beta2 { job.optimizer.beta2 = beta2 }
        if let eps { job.optimizer.eps = eps }
        if let weightDecay { job.optimizer.weightDecay = weightDecay }
        if let schedule { job.schedule.name = schedule }
        if let warmupSteps { job.schedule.warmupSteps = warmupSteps }
        if let stepSize { job.schedule.stepSize = stepSize }
        if let gamma { job.schedule.gamma = gamma }
        if let minLr { job.schedule.minLR = minLr }
        if let l1 { job.regularization.l1 = l1 }
        if let l2 { job.regularization.l2 = l2 }
        if let clipNorm { job.regularization.clipNorm = clipNorm }
        if let epochs {
            job.epochs = epochs
            if steps == nil { job.steps = nil }
        }
        if let steps { job.steps = steps }
        if let batchSize { job.batchSize = batchSize }
        if let seed { job.seed = seed }
        if let earlyStoppingPatience { job.earlyStoppingPatience = earlyStoppingPatience }
        if let dataset { job.data.dataset = dataset }
        if let dataPath { job.data.path = dataPath }
        if let validationFraction { job.data.validationFraction = validationFraction }
        if let standardize { job.data.standardize = standardize }
        if let syntheticFallback { job.data.syntheticFallback = syntheticFallback }
        if let dropLast { job.data.dropLast = dropLast }
        if let maxTrainExamples { job.data.maxTrainExamples = maxTrainExamples }
        if let maxTestExamples { job.data.maxTestExamples = maxTestExamples }
        if let qatStartStep {
            var compression = job.compression ?? CompressionSpec()
            var qat = compression.qat ?? QATSpec()
            qat.startStep = qatStartStep
            compression.qat = qat
            job.compression = compression
        }
        try job.validate()
        return job
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("cohort: \(message)\n".utf8))
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model in one process (flags or a YAML job: section).",
        discussion:
            "Progress goes to stderr; per-epoch summaries to stdout (JSON lines with --json, the last one {\"event\":\"done\",…})."
    )

    @OptionGroup var job: JobOptions
    @Option(help: "GEMM threads.") var threads: Int = 1
    @Option(help: "Write per-epoch metrics as JSON Lines to this file.") var metrics: String?
    @Option(help: "Save the trained weights (safetensors).") var output: String?
    @Flag(help: "No progress lines on stderr.") var quiet = false
    @Option(help: "Save the training state (weights, optimizer, data cursor) here after every epoch and at the end.")
    var checkpointDir: String?
    @Flag(help: "Continue from the newest valid checkpoint in --checkpoint-dir (none there: start afresh).")
    var resume = false
    @Option(help: "Lay the learning-rate schedule over this many epochs, not the run's own (a run continued later).")
    var scheduleEpochs: Int?
    @Option(help: "Lay the learning-rate schedule over this many steps, not the run's own.")
    var scheduleSteps: Int?
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        do {
            try train()
        } catch let e as ValidationError {
            throw e
        } catch {
            printError("\(error)")
            throw ExitCode(error is TrainingDiverged ? Cohort.divergedStatus : 1)
        }
    }

    func train() throws {
        // Started by `cohort tune` (a trial): end with the tuner, even when it is killed outright, so a killed
        // study leaves no trial running that its resume would start again.
        if let raw = ProcessInfo.processInfo.environment[Launcher.parentVariable], let parent = Int32(raw),
            cohort_exit_with_parent(parent) == 1
        {
            throw CohortFailure("train: the tuner (pid \(parent)) exited before this trial started")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        let spec = try job.jobSpec()
        let json = outputOptions.json
        let data = try spec.loadData()
        if let notice = data.notice { FileHandle.standardError.write(Data("\(notice)\n".utf8)) }
        if let n = scheduleEpochs ?? scheduleSteps, n < 1 {
            throw ValidationError("--schedule-\(scheduleEpochs != nil ? "epochs" : "steps") must be at least 1")
        }
        let horizon = scheduleSteps.map(ScheduleHorizon.steps) ?? scheduleEpochs.map(ScheduleHorizon.epochs)
        let loop = try TrainingLoop(job: spec, data: data, threads: threads, scheduleHorizon: horizon)
        guard !resume || checkpointDir != nil else { throw ValidationError("--resume needs --checkpoint-dir") }
        loop.checkpoints = checkpointDir.map { TrainingCheckpoints(spec: CheckpointSpec(directory: $0, everyEpochs: 1, keep: 2)) }
        loop.resumesFromCheckpoint = resume
        let writer = try metrics.map { try JSONLinesWriter(path: $0) }
        let model = loop.trainer.model
        if !json {
            print(
                "training \(spec.workload ?? "custom") model \(spec.model.layers.map(String.init).joined(separator: "→")) "
                    + "(\(model.parameterCount) parameters) on \(data.train.name) (\(data.train.count) examples), "
                    + "\(spec.optimizer.name) lr \(spec.optimizer.lr) \(spec.schedule.name), batch \(spec.batchSize), "
                    + (spec.steps.map { "\($0) steps" } ?? "\(spec.epochs) epochs") + ", \(threads) thread(s)")
        }
        try loop.run(
            progress: { p in
                guard !quiet else { return }
                let line = String(
                    format: "epoch %d step %d/%d  loss %.4f  acc %.4f  %.0f samples/s\n",
                    p.epoch, p.step, p.stepsInEpoch, p.loss, p.accuracy, p.samplesPerSecond)
                FileHandle.standardError.write(Data(line.utf8))
            },
            epochDone: { m in
                try writer?.write(m)
                if json {
                    print(JSONLinesWriter.line(m))
                    fflush(nil)  // a reader of the pipe (`cohort tune`'s stopping type) acts on each epoch as it ends
                } else {
                    var line = String(format: "epoch %2d  loss %.4f  acc %.4f", m.epoch, m.trainLoss, m.trainAccuracy)
                    if let vl = m.validationLoss, let va = m.validationAccuracy {
                        line += String(format: "  val loss %.4f  val acc %.4f", vl, va)
                    }
                    if let tl = m.testLoss, let ta = m.testAccuracy {
                        line += String(format: "  test loss %.4f  test acc %.4f", tl, ta)
                    }
                    line += String(format: "  lr %.5f  %.0f samples/s", m.learningRate, m.samplesPerSecond)
                    print(line)
                }
            })
        let test = loop.trainer.evaluate(data.test)
        if let output {
            try Self.saveWeights(model, to: output, job: spec, data: data, qat: loop.trainer.quantizationAwareTraining)
        }
        if loop.stoppedEarly, !json, let stopper = loop.earlyStopping {
            print("early stopping: restored the weights of epoch \(stopper.bestEpoch ?? 0) (validation loss \(stopper.bestLoss))")
        }
        let done = DoneEvent(
            testAccuracy: test.accuracy, testLoss: test.loss, samplesPerSecond: loop.samplesPerSecond,
            epochs: loop.history.count, steps: loop.trainer.step, threads: threads,
            synthetic: data.notice != nil || spec.data.dataset == "synthetic", output: output,
            resumedFromStep: loop.resumedAt.step > 0 ? loop.resumedAt.step : nil)
        if json {
            print(JSONLinesWriter.line(done))
        } else {
            print(
                String(
                    format: "test accuracy %.4f  test loss %.4f  %.0f samples/s", test.accuracy, test.loss, loop.samplesPerSecond)
                    + (output.map { "  weights → \($0)" } ?? ""))
        }
    }

    /// PyTorch-named weights plus what a reader needs to reproduce the inputs (the standardisation constants), and
    /// QAT's activation scales for `cohort compress quantize` when it trained with QAT.
    static func saveWeights(
        _ model: Sequential, to path: String, job: JobSpec, data: JobData, qat: QuantizationAwareTraining? = nil
    ) throws {
        var metadata = [
            "format": "pt", "producer": "cohort train", "layers": job.model.layers.map(String.init).joined(separator: ","),
            "activation": job.model.activation, "seed": String(job.seed), "dataset": data.train.name,
        ]
        if let s = data.standardizer {
            metadata["input_mean"] = "\(s.mean)"
            metadata["input_std"] = "\(s.std)"
        }
        if let scales = qat?.inputScalesMetadata { metadata[Int8ModelExport.qatScalesKey] = scales }
        try model.saveSafeTensors(to: path, metadata: metadata)
    }
}

struct DoneEvent: Encodable {
    var event = "done"
    var testAccuracy: Float
    var testLoss: Float
    var samplesPerSecond: Double
    var epochs: Int
    var steps: Int
    var threads: Int
    var synthetic: Bool
    var output: String?
    /// The step a continued run (`--resume`) started from; absent for a run from scratch.
    var resumedFromStep: Int?
    enum CodingKeys: String, CodingKey {
        case resumedFromStep = "resumed_from_step"
        case event
        case testAccuracy = "test_accuracy"
        case testLoss = "test_loss"
        case samplesPerSecond = "samples_per_s"
        case epochs, steps, threads, synthetic, output
    }
}
