import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Testing
import Training

@Suite(.timeLimit(.minutes(4)))
struct QATTrainingTests {
    private func qatJob(steps: Int, start: Int) -> JobSpec {
        var job = smallJob(steps: steps, batch: 30)
        job.compression = CompressionSpec(qat: QATSpec(startStep: start, observerMomentum: 0.1))
        return job
    }

    /// Two data-parallel replicas with QAT from step 5: weights bitwise identical, and every observer's moving
    /// average identical (each replica saw different rows, so only the averaged records keep them equal); QAT
    /// really ran (the weights differ from the same job without it).
    @Test func dataParallelReplicasStayIdenticalWithQAT() throws {
        let job = qatJob(steps: 20, start: 5)
        let data = try job.loadData()
        func train(_ job: JobSpec) throws -> [([Float], [Float?])] {
            let comms = try Communicator.local(size: 2)
            let results = runRanks(comms) { comm in
                let w = try DataParallelWorker(
                    assignment: assignment(rank: comm.rank, ranks: 2, job: job), data: data, communicator: comm, control: nil)
                _ = try w.run()
                let observed = w.trainer.quantizationAwareTraining?.quantizers.map { $0.quantizer.observedMaxAbs } ?? []
                return (w.trainer.model.parameters.array, observed)
            }
            return try results.map { try $0.get() }
        }
        let outs = try train(job)
        #expect(outs[0].0 == outs[1].0, "replicas' weights must be bitwise identical")
        #expect(outs[0].1.count == 2 && outs[0].1.allSatisfy { $0 != nil }, "every Dense observed: \(outs[0].1)")
        #expect(outs[0].1 == outs[1].1, "replicas' observers must be identical: \(outs[0].1) vs \(outs[1].1)")
        var plain = job
        plain.compression = nil
        let fp32 = try train(plain)
        #expect(fp32[0].0 != outs[0].0, "QAT must change training")
    }

    /// A QAT-trained model converted to int8 with the observers' scales (what `compress quantize` does with the
    /// file's "qat_input_scales") predicts what the fake-quantized model predicted: the int8 GEMM differs only
    /// in summation rounding.
    @Test func exportedInt8AgreesWithFakeQuantizedModel() throws {
        let job = qatJob(steps: 200, start: 100)
        let data = try job.loadData()
        let loop = try TrainingLoop(job: job, data: data)
        try loop.run()
        let qat = try #require(loop.trainer.quantizationAwareTraining)
        let scales = try #require(qat.inputScales)
        let fake = loop.trainer.evaluate(data.test).accuracy
        let int8 = try PostTrainingQuantization.quantize(loop.trainer.model, inputScales: scales)
        let accuracy = InferenceBenchmark(model: int8, test: data.test).accuracy()
        #expect(abs(Double(fake) - accuracy) <= 0.01, "fake-quant \(fake) vs int8 \(accuracy)")
        var plain = job
        plain.compression = nil
        let fp32 = try TrainingLoop(job: plain, data: data)
        try fp32.run()
        let fp32Accuracy = Double(fp32.trainer.evaluate(data.test).accuracy)
        #expect(accuracy > fp32Accuracy - 0.03, "int8 after QAT \(accuracy), fp32 \(fp32Accuracy)")
        #expect(qat.inputScalesMetadata?.split(separator: ",").count == 2)
    }

    /// `compression.qat` from YAML, and bad values: one line naming the key path.
    @Test func badQATConfigNamesTheKey() throws {
        let dir = try TestFiles.scratchDirectory("qat-config")
        defer { TestFiles.cleanup(dir) }
        func load(_ compression: String) throws -> JobSpec {
            let path = dir.appendingPathComponent("job.yaml").path
            let text = """
                job:
                  model: {layers: [16, 24, 5]}
                  data: {dataset: synthetic}
                  steps: 10
                  compression: \(compression)
                """
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return try JobSpec.load(configFile: path)
        }
        let good = try load("{qat: {start_step: 100, observer_momentum: 0.05, observer_freeze_step: 150}}")
        try good.validate()
        #expect(good.compression?.qat == QATSpec(startStep: 100, observerMomentum: 0.05, observerFreezeStep: 150))
        #expect(good.compression?.sparsity == nil)
        let cases = [
            ("{qat: {start_step: -1}}", "compression.qat.start_step"),
            ("{qat: {observer_momentum: 0}}", "compression.qat.observer_momentum"),
            ("{qat: {start_step: 10, observer_freeze_step: 10}}", "compression.qat.observer_freeze_step"),
            ("{scope: layer}", "compression"),
            ("{qat: {start_step: 1, foo: 2}}", "foo"),
            ("{qat: {start_step: ten}}", "start_step"),
        ]
        for (bad, key) in cases {
            do {
                try load(bad).validate()
                Issue.record("\(bad) accepted")
            } catch {
                #expect("\(error)".contains(key) && !"\(error)".contains("\n"), "\(bad): \(error)")
            }
        }
    }
}
