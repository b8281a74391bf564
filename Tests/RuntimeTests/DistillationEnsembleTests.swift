import CohortTestSupport
import Config
import Datasets
import Foundation
import NN
import Tensors
import Testing
import Training

/// `distillation.teacher` as a list: an ensemble whose softened output is the mean of its members'.
@Suite(.timeLimit(.minutes(4)))
struct DistillationEnsembleTests {
    /// softmax(z/T) of the ensemble's logits equals the mean of the members' softmax(z_i/T), against a Float64
    /// reference, for odd widths, several temperatures and members far apart in scale.
    @Test func ensembleLogitsSoftenToTheMembersMeanProbabilities() {
        var rng = Xoshiro256(seed: 5)
        for (rows, classes, count) in [(1, 2, 2), (3, 10, 3), (7, 5, 4)] {
            for t: Float in [0.5, 1, 4, 20] {
                let members = (0..<count).map { m -> Tensor in
                    let z = Tensor(shape: [rows, classes])
                    for i in 0..<z.count { z.pointer[i] = Float(rng.nextNormal()) * Float(1 + 10 * m) }
                    return z
                }
                let out = Tensor(shape: [rows, classes])
                ensembleLogits(members, temperature: t, into: out)
                for r in 0..<rows {
                    let expected = (0..<classes).map { j in
                        members.map { softmax64($0, row: r, t: Double(t))[j] }.reduce(0, +) / Double(count)
                    }
                    let got = softmax64(out, row: r, t: Double(t))
                    let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
                    #expect(worst < 1e-5, "rows \(rows) classes \(classes) T \(t): off by \(worst)")
                }
            }
        }
    }

    private func softmax64(_ z: Tensor, row: Int, t: Double) -> [Double] {
        let v = (0..<z.columns).map { Double(z.pointer[row * z.columns + $0]) / t }
        let top = v.max() ?? 0
        let e = v.map { Foundation.exp($0 - top) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// A list under `teacher` reads as an ensemble and goes back to the same list on the wire; one path stays one.
    @Test func aTeacherListReadsAsAnEnsembleAndSurvivesTheWire() throws {
        let list = try JobSpec.parse(
            yaml: "job:\n  distillation: {teacher: [a.safetensors, b.safetensors], temperature: 2}\n", file: "e.yaml")
        #expect(list.distillation?.teachers == ["a.safetensors", "b.safetensors"])
        let one = try JobSpec.parse(yaml: "job:\n  distillation: {teacher: a.safetensors}\n", file: "o.yaml")
        #expect(one.distillation?.teachers == ["a.safetensors"])
        for job in [list, one] {
            #expect(try JSONDecoder().decode(JobSpec.self, from: JSONEncoder().encode(job)) == job)
        }
        do {
            try JobSpec.parse(yaml: "job:\n  distillation: {teacher: []}\n", file: "empty.yaml").validate()
            Issue.record("an empty teacher list was accepted")
        } catch { #expect("\(error)".contains("distillation.teacher"), "\(error)") }
    }

    /// Two different teachers train the student reproducibly, it learns, and it is taught by neither alone. A
    /// member of the wrong width is a one-line error naming that member's file.
    @Test func anEnsembleTeachesAndABadMemberIsNamed() throws {
        let dir = try TestFiles.scratchDirectory("distill-ensemble")
        defer { TestFiles.cleanup(dir) }
        let a = try DistillationTrainingTests.teacherFile(dir, steps: 60, name: "a")
        let b = try DistillationTrainingTests.teacherFile(dir, steps: 15, name: "b")
        var job = smallJob(steps: 30, batch: 30)
        job.data.standardize = false
        let data = try job.loadData()
        let buffer = BatchBuffer(capacity: 30, featureCount: data.train.featureCount)
        let (batch, batchLabels) = buffer.load(Array(0..<30)[...], from: data.train)
        let (x, labels) = (batch.copy(), Array(batchLabels))
        func train(_ teachers: [String]) throws -> (params: [Float], first: Float, last: Float) {
            job.distillation = DistillationSpec(teachers: teachers, temperature: 2, alpha: 0.8)
            let loop = try TrainingLoop(job: job, data: data)
            #expect(loop.trainer.distillation?.teachers.count == teachers.count)
            let first = labels.withUnsafeBufferPointer { loop.trainer.computeGradients(x: x, labels: $0).loss }
            try loop.run()
            let last = labels.withUnsafeBufferPointer { loop.trainer.computeGradients(x: x, labels: $0).loss }
            return (loop.trainer.model.parameters.array, first, last)
        }
        let both = try train([a, b])
        #expect(try train([a, b]).params == both.params, "two ensemble runs differ")
        #expect(try train([a]).params != both.params && (try train([b])).params != both.params)
        #expect(both.last.isFinite && both.last < both.first, "loss \(both.first) → \(both.last)")
        let wrong = try DistillationTrainingTests.teacherFile(dir, layers: [16, 12, 4], name: "wrong")
        job.distillation = DistillationSpec(teachers: [a, wrong])
        do {
            _ = try TrainingLoop(job: job, data: data)
            Issue.record("a 16→4 member taught a 16→5 student")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix(wrong + ": ") && !text.contains("\n"), "\(text)")
        }
    }
}
