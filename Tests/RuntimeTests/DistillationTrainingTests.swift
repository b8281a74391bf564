import CohortTestSupport
import Collectives
import Config
import Datasets
import Foundation
import NN
import Parallel
import Tensors
import Testing
import Training

@Suite(.timeLimit(.minutes(4)))
struct DistillationTrainingTests {
    /// A teacher trained on the small synthetic job, saved as `cohort train` saves (weights + layers metadata).
    static func teacherFile(
        _ dir: URL, layers: [Int] = [16, 40, 5], steps: Int = 60, name: String = "teacher"
    ) throws -> String {
        var job = smallJob(steps: steps, layers: layers)
        job.data.standardize = false
        let loop = try TrainingLoop(job: job, data: try job.loadData())
        try loop.run()
        let path = dir.appendingPathComponent("\(name).safetensors").path
        try loop.trainer.model.saveSafeTensors(
            to: path, metadata: ["layers": layers.map(String.init).joined(separator: ","), "activation": "tanh"])
        return path
    }

    /// Trains `job`; its weights, and the loss on the first 30 training rows before and after.
    static func trainWatchingLoss(_ job: JobSpec, _ data: JobData) throws -> (params: [Float], first: Float, last: Float) {
        let loop = try TrainingLoop(job: job, data: data)
        let buffer = BatchBuffer(capacity: 30, featureCount: data.train.featureCount)
        let (batch, batchLabels) = buffer.load(Array(0..<30)[...], from: data.train)
        let (x, labels) = (batch.copy(), Array(batchLabels))
        let first = labels.withUnsafeBufferPointer { loop.trainer.computeGradients(x: x, labels: $0).loss }
        try loop.run()
        let last = labels.withUnsafeBufferPointer { loop.trainer.computeGradients(x: x, labels: $0).loss }
        return (loop.trainer.model.parameters.array, first, last)
    }

    /// Single process and 2 data-parallel ranks (each running the teacher on its own rows) train the same
    /// student: replicas bitwise identical, and equal to one process up to float summation order.
    @Test func dataParallelDistillationEqualsSingleProcess() throws {
        let dir = try TestFiles.scratchDirectory("distill")
        defer { TestFiles.cleanup(dir) }
        var job = smallJob(steps: 20, batch: 30)
        job.data.standardize = false
        job.distillation = DistillationSpec(teacher: try Self.teacherFile(dir), temperature: 3, alpha: 0.7)
        let data = try job.loadData()
        let single = try TrainingLoop(job: job, data: data)
        #expect(single.trainer.distillation != nil)
        try single.run()
        let reference = single.trainer.model.parameters.array
        let comms = try Communicator.local(size: 2)
        let spec = job
        let results = runRanks(comms) { comm in
            let w = try DataParallelWorker(
                assignment: assignment(rank: comm.rank, ranks: 2, job: spec), data: data, communicator: comm, control: nil)
            _ = try w.run()
            return w.trainer.model.parameters.array
        }
        let params = try results.map { try $0.get() }
        #expect(params[0] == params[1], "replicas must be bitwise identical")
        let worst = zip(params[0], reference).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst <= 1e-5, "DP vs single process: \(worst)")
    }

    /// Function matching (`distillation.mixup`): the student trains on mixed rows the teacher labels. A run is
    /// reproducible (same seed, same weights), it learns (the loss falls), and it is not the unmixed run.
    @Test func mixupTrainsReproduciblyAndDiffersFromPlainDistillation() throws {
        let dir = try TestFiles.scratchDirectory("distill-mixup")
        defer { TestFiles.cleanup(dir) }
        var job = smallJob(steps: 40, batch: 30)
        job.data.standardize = false
        let teacher = try Self.teacherFile(dir)
        let data = try job.loadData()
        func train(_ mixup: Float?) throws -> (params: [Float], first: Float, last: Float) {
            job.distillation = DistillationSpec(teacher: teacher, temperature: 2, alpha: 0.8, mixup: mixup)
            return try Self.trainWatchingLoss(job, data)
        }
        let a = try train(1)
        let b = try train(1)
        let plain = try train(nil)
        #expect(a.params == b.params, "two mixup runs with one seed differ")
        #expect(a.params != plain.params, "mixup changed nothing")
        #expect(a.last.isFinite && a.last < a.first, "loss \(a.first) → \(a.last)")
        job.distillation = DistillationSpec(teacher: teacher, mixup: -1)
        do {
            try job.validate()
            Issue.record("mixup -1 accepted")
        } catch { #expect("\(error)".contains("distillation.mixup"), "\(error)") }
    }

    /// `distillation.shift`: every row comes out as its own image translated by some (dy, dx) within the shift, the
    /// border extended (checked against a naive translation), with many different offsets over a batch; one seed
    /// repeats its batch.
    @Test func shiftedRowsAreTranslationsOfTheirImages() {
        let (side, shift, rows) = (6, 2, 60)
        let x = Tensor(
            shape: [rows, side * side], values: (0..<rows * side * side).map { Float($0 % 97) + Float($0 / 97) * 0.01 })
        func translated(_ r: Int, _ dy: Int, _ dx: Int) -> [Float] {
            (0..<side * side).map { p in
                let (i, j) = (min(max(p / side - dy, 0), side - 1), min(max(p % side - dx, 0), side - 1))
                return x.pointer[r * side * side + i * side + j]
            }
        }
        var a = BatchShifter(side: side, shift: shift, seed: 3)
        var b = BatchShifter(side: side, shift: shift, seed: 3)
        let out = a.shifted(x).copy()
        #expect(b.shifted(x).array == out.array, "one seed, two batches")
        var offsets = Set<[Int]>()
        for r in 0..<rows {
            let row = Array(UnsafeBufferPointer(start: out.pointer + r * side * side, count: side * side))
            let found = (-shift...shift).flatMap { dy in (-shift...shift).map { [dy, $0] } }.first {
                translated(r, $0[0], $0[1]) == row
            }
            #expect(found != nil, "row \(r) is no translation of its image within \(shift) pixels")
            if let found { offsets.insert(found) }
        }
        #expect(offsets.count >= 10, "only \(offsets.count) different offsets over \(rows) rows")
        #expect(BatchShifter.side(ofSquare: 784) == 28 && BatchShifter.side(ofSquare: 785) == nil)
    }

    /// A student trained with shifted rows is reproducible, learns, and differs from the unshifted run; a shift too
    /// large, or one for inputs that are not a square image, is one line naming `distillation.shift`.
    @Test func shiftTrainsReproduciblyAndIsValidated() throws {
        let dir = try TestFiles.scratchDirectory("distill-shift")
        defer { TestFiles.cleanup(dir) }
        var job = smallJob(steps: 40, batch: 30)
        job.data.standardize = false
        let teacher = try Self.teacherFile(dir)
        let data = try job.loadData()
        func train(_ shift: Int?) throws -> (params: [Float], first: Float, last: Float) {
            job.distillation = DistillationSpec(teacher: teacher, temperature: 2, alpha: 0.8, mixup: 1, shift: shift)
            return try Self.trainWatchingLoss(job, data)
        }
        let a = try train(1)
        #expect(a.params == (try train(1)).params, "two shifted runs with one seed differ")
        #expect(a.params != (try train(nil)).params, "the shift changed nothing")
        #expect(a.last.isFinite && a.last < a.first, "loss \(a.first) → \(a.last)")
        job.distillation = DistillationSpec(teacher: teacher, shift: 17)
        do {
            try job.validate()
            Issue.record("shift 17 accepted")
        } catch { #expect("\(error)".contains("distillation.shift"), "\(error)") }
        var wide = smallJob(steps: 5, layers: [15, 24, 5])
        wide.data.standardize = false
        wide.distillation = DistillationSpec(teacher: try Self.teacherFile(dir, layers: [15, 12, 5], name: "t15"), shift: 1)
        do {
            _ = try TrainingLoop(job: wide, data: try wide.loadData())
            Issue.record("a shift for 15 inputs accepted")
        } catch {
            #expect("\(error)".contains("distillation.shift") && "\(error)".contains("15 inputs"), "\(error)")
        }
    }

    /// An int8 teacher (the file `cohort compress quantize` writes) teaches: it loads as int8, its logits stay
    /// near the fp32 teacher's, and the student it teaches learns, reproducibly.
    @Test func anInt8TeacherTeaches() throws {
        let dir = try TestFiles.scratchDirectory("distill-int8")
        defer { TestFiles.cleanup(dir) }
        var job = smallJob(steps: 40, batch: 30)
        job.data.standardize = false
        let data = try job.loadData()
        let fp32Path = try Self.teacherFile(dir)
        let source = try ModelFile.load(fp32Path)
        let q = try PostTrainingQuantization.quantize(
            source.model, calibration: calibrationSet(data.train, batches: 4, seed: 1))
        let int8Path = dir.appendingPathComponent("teacher-int8.safetensors").path
        _ = try Int8ModelExport.write(q, source: source, metadata: [:], to: int8Path)
        let int8 = try ModelFile.load(int8Path)
        #expect(int8.format == .int8)

        let x = calibrationSet(data.train, batches: 1, seed: 2)[0]
        let exact = source.model.forward(x, training: false).array
        let approximate = int8.model.forward(x, training: false).array
        let range = (exact.max() ?? 0) - (exact.min() ?? 0)
        let worst = zip(exact, approximate).map { abs($0 - $1) }.max() ?? .infinity
        #expect(range > 0 && worst <= 0.1 * range, "int8 logits \(worst) from fp32's, whose range is \(range)")

        job.distillation = DistillationSpec(teacher: int8Path, temperature: 2, alpha: 0.8)
        let a = try Self.trainWatchingLoss(job, data)
        #expect(a.params == (try Self.trainWatchingLoss(job, data)).params, "two runs with one seed differ")
        #expect(a.last.isFinite && a.last < a.first, "loss \(a.first) → \(a.last)")
    }

    /// A teacher whose widths differ from the student's is one line naming the file; bad T and α name their keys.
    @Test func badTeachersAndSettingsAreOneLineErrors() throws {
        let dir = try TestFiles.scratchDirectory("distill-bad")
        defer { TestFiles.cleanup(dir) }
        let path = try Self.teacherFile(dir, layers: [16, 12, 4])
        var job = smallJob(steps: 5)
        job.distillation = DistillationSpec(teacher: path)
        do {
            _ = try TrainingLoop(job: job, data: try job.loadData())
            Issue.record("a 16→4 teacher taught a 16→5 student")
        } catch {
            let text = "\(error)"
            #expect(
                text.hasPrefix(path + ": ") && text.contains("5 outputs") == false && text.contains("to 4 outputs"), "\(text)")
            #expect(!text.contains("\n"))
        }
        job.distillation = DistillationSpec(teacher: dir.appendingPathComponent("none.safetensors").path)
        #expect(throws: (any Error).self) { _ = try TrainingLoop(job: job, data: try job.loadData()) }
        job.distillation = DistillationSpec(teacher: path, temperature: 0)
        #expect(throws: JobError.self) { try job.validate() }
        job.distillation = DistillationSpec(teacher: path, alpha: 1.5)
        do { try job.validate() } catch { #expect("\(error)".contains("distillation.alpha"), "\(error)") }
    }
}
