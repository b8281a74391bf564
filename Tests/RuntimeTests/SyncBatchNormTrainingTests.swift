import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Testing
import Training

/// Synchronised batch normalisation in data-parallel training: replicas (threads over inproc:// ZeroMQ, the real
/// data plane) train as one process does on the whole batch, and the settings are validated.
@Suite(.timeLimit(.minutes(4)))
struct SyncBatchNormTrainingTests {
    /// A small W3-like CNN with batch norm after each conv and after the hidden dense layer, on synthetic 1×8×8 data.
    static func job(sync: Bool) throws -> JobSpec {
        let bn = sync ? "{batchnorm: {sync: true}}" : "{batchnorm: {}}"
        return try JobSpec.parse(
            yaml: """
                job:
                  seed: 3
                  batch_size: 30
                  steps: 8
                  optimizer: {name: momentum, lr: 0.05}
                  data: {dataset: synthetic, max_train_examples: 120, max_test_examples: 30}
                  model:
                    input: [1, 8, 8]
                    layers:
                      - {conv: {out: 4, kernel: 3, padding: 1}}
                      - \(bn)
                      - {activation: relu}
                      - {maxpool: 2}
                      - {conv: {out: 6, kernel: 3, padding: 1}}
                      - \(bn)
                      - {activation: relu}
                      - {maxpool: 2}
                      - {flatten: {}}
                      - {dense: 8}
                      - \(bn)
                      - {activation: relu}
                      - {dense: 5}
                """, file: "syncbn.yaml")
    }

    /// (parameters, buffers) after training `job` alone, or on each of `ranks` replicas.
    static func train(_ job: JobSpec, ranks: Int?) throws -> [(params: [Float], buffers: [Float])] {
        let data = try job.loadData()
        guard let ranks else {
            let single = try TrainingLoop(job: job, data: data)
            try single.run()
            return [(single.trainer.model.parameters.array, single.trainer.model.buffers.array)]
        }
        let comms = try Communicator.local(size: ranks)
        let results = runRanks(comms) { comm in
            let w = try DataParallelWorker(
                assignment: assignment(rank: comm.rank, ranks: ranks, job: job), data: data, communicator: comm,
                control: nil)
            _ = try w.run()
            return (w.trainer.model.parameters.array, w.trainer.model.buffers.array)
        }
        return try results.map { try $0.get() }
    }

    static func worstRelative(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
    }

    /// With `sync: true` the replicas normalise with the global batch's statistics, so data-parallel training equals
    /// single-process training (the summation order aside), running statistics included; every replica's state is
    /// the same. Without it (local statistics, DDP's default) the same run visibly differs, which shows the check
    /// can fail.
    @Test(arguments: [2, 3])
    func synchronisedReplicasEqualOneProcess(ranks: Int) throws {
        let synced = try Self.job(sync: true)
        let reference = try Self.train(synced, ranks: nil)[0]
        let replicas = try Self.train(synced, ranks: ranks)
        for r in replicas.dropFirst() {
            #expect(r.params == replicas[0].params && r.buffers == replicas[0].buffers, "replicas must be identical")
        }
        let params = Self.worstRelative(replicas[0].params, reference.params)
        let buffers = Self.worstRelative(replicas[0].buffers, reference.buffers)
        #expect(params <= 1e-4 && buffers <= 1e-4, "DP (sync) vs one process: parameters \(params), buffers \(buffers)")

        let local = try Self.train(Self.job(sync: false), ranks: ranks)[0]
        let localParams = Self.worstRelative(local.params, try Self.train(Self.job(sync: false), ranks: nil)[0].params)
        #expect(localParams > 1e-3, "local statistics should differ from one process's: \(localParams)")
    }

    /// `sync` belongs to batchnorm, and needs a synchronous data-parallel step: pipeline stages and local SGD are
    /// refused naming the layer's key and line.
    @Test(arguments: [
        (
            "data_parallel: 2 |data_parallel: 1 ||pipeline_stages: 1|pipeline_stages: 2", "{batchnorm: {sync: true}}",
            "batchnorm.sync", "pipeline_stages is 2"
        ),
        (
            "micro_batches: 1|micro_batches: 1\n  sync: {every_steps: 4}", "{batchnorm: {sync: true}}", "batchnorm.sync",
            "local SGD"
        ),
        ("", "{layernorm: {sync: true}}", "layernorm.sync", "for batchnorm"),
    ])
    func syncSettingIsValidated(edits: String, item: String, key: String, message: String) throws {
        let example = try String(contentsOfFile: TestFiles.repo("cluster.yaml"), encoding: .utf8)
        let model = "  seed: 1\n  model:\n    input: 12\n    layers:\n      - {dense: 8}\n      - \(item)\n      - {dense: 10}\n"
        var text = example.replacingOccurrences(of: "  seed: 1\n", with: model)
        for edit in edits.components(separatedBy: "||") where !edit.isEmpty {
            let parts = edit.components(separatedBy: "|")
            #expect(text.contains(parts[0]), "the example cluster file has no \(parts[0])")
            text = text.replacingOccurrences(of: parts[0], with: parts[1])
        }
        let line = (text.components(separatedBy: "\n").firstIndex { $0.contains("- \(item)") } ?? -1) + 1
        do {
            _ = try ClusterConfig.parse(text, file: "c.yaml")
            Issue.record("accepted \(item) with \(edits)")
        } catch {
            #expect(error.keyPath == "job.model.layers[1].\(key)")
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.line == line, "\(error)")
        }
    }

    /// Without pipeline stages or local SGD, `sync: true` is accepted and reaches the layer.
    @Test func syncReachesTheLayer() throws {
        let model = try Self.job(sync: true).makeModel()
        #expect(model.batchNormLayers.count == 3 && model.batchNormLayers.allSatisfy(\.synchronized))
        #expect(try Self.job(sync: false).makeModel().batchNormLayers.allSatisfy { !$0.synchronized })
    }
}
