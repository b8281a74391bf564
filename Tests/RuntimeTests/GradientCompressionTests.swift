import CohortTestSupport
import Collectives
import Config
import Foundation
import NN
import Parallel
import Runtime
import Testing
import Training

/// Gradient compression (`parallelism.gradient`): each reducer against a hand computation, and every method keeps
/// the replicas bitwise identical (ranks as threads, and as `cohort launch` processes over tcp).
@Suite(.timeLimit(.minutes(3)))
struct GradientCompressionTests {
    /// Runs `body` on a one-element-per-call bucket of `values` through `reducer` (a one-rank group).
    func reduced(_ reducer: GradientReducer, _ values: [Float], index: Int = 0) throws -> [Float] {
        var v = values
        try v.withUnsafeMutableBufferPointer { b in
            try reducer.reduce(bucket: GradientBucket(index: index, range: 0..<b.count, values: b))
        }
        return v
    }

    @Test func topKPicksTheLargestMagnitudesAndCarriesTheRestToTheNextStep() throws {
        let comm = try Communicator.local(size: 1)[0]
        let topk = TopKReducer(communicator: comm, density: 0.5, errorFeedback: true)
        #expect(try reduced(topk, [3, -1, 0.5, -2]) == [3, 0, 0, -2])
        // The residual [0, -1, 0.5, 0] joins the next (zero) gradient and is what is sent now.
        #expect(try reduced(topk, [0, 0, 0, 0]) == [0, -1, 0.5, 0])
        #expect(try reduced(topk, [0, 0, 0, 0]) == [0, 0, 0, 0])
    }

    @Test func topKBreaksTiesTowardsTheLowerIndex() {
        var v: [Float] = [1, -1, 1, 0.5, -1]
        let chosen = v.withUnsafeMutableBufferPointer { TopKReducer.largest($0, k: 2) }
        #expect(chosen == [0, 1])
        let three = v.withUnsafeMutableBufferPointer { TopKReducer.largest($0, k: 4) }
        #expect(three == [0, 1, 2, 4])
    }

    @Test func bf16ErrorFeedbackSendsTheRoundingOnTheNextStep() throws {
        let comm = try Communicator.local(size: 1)[0]
        let bf16 = HalfPrecisionReducer(communicator: comm, wire: .bfloat16, errorFeedback: true)
        let x: Float = 1 + 0x1p-10  // not a bf16 value: rounds to 1
        let first = try reduced(bf16, [x])
        #expect(first == [1])
        let second = try reduced(bf16, [0])
        #expect(second == [0x1p-10])
        #expect(first[0] + second[0] == x)
    }

    /// `start_step` counts training steps, so a job resumed past it compresses from its first step.
    @Test func startStepCountsFromTheResumedStep() throws {
        let comm = try Communicator.local(size: 1)[0]
        let x: Float = 1 + 0x1p-10  // not a bf16 value
        let fresh = HalfPrecisionReducer(communicator: comm, wire: .bfloat16, errorFeedback: true, startStep: 5)
        #expect(try reduced(fresh, [x]) == [x], "before start_step the sum is fp32")
        let resumed = HalfPrecisionReducer(communicator: comm, wire: .bfloat16, errorFeedback: true, startStep: 5)
        resumed.resumed(atStep: 10)
        #expect(try reduced(resumed, [x]) == [1], "resumed past start_step: bf16 on the wire")
    }

    /// Two ranks whose summed gradient has rank 2: PowerSGD at rank 2 returns the sum to fp32 tolerance.
    @Test func powerSGDRecoversALowRankSumExactly() throws {
        let (n, m) = (12, 9)
        let matrix = PowerSGDReducer.Matrix(offset: 0, rows: n, cols: m)
        @Sendable func local(_ r: Int) -> [Float] {
            (0..<(n * m)).map { i in
                let (row, col) = (i / m, i % m)
                return r == 0 ? Float(row + 1) * Float(col % 3 - 1) : Float((row * 7) % 5 - 2) * Float(col + 1) * 0.1
            }
        }
        let comms = try Communicator.local(size: 2)
        let results = runRanks(comms) { c -> [Float] in
            let reducer = PowerSGDReducer(communicator: c, matrices: [matrix], rank: 2, errorFeedback: false)
            var v = local(c.rank)
            try v.withUnsafeMutableBufferPointer { b in
                try reducer.reduce(bucket: GradientBucket(index: 0, range: 0..<b.count, values: b))
            }
            return v
        }
        let sum = zip(local(0), local(1)).map { $0 + $1 }
        let got = try results.map { try $0.get() }
        #expect(got[0] == got[1], "ranks must agree bitwise")
        let worst = zip(got[0], sum).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-3, "largest error \(worst)")
    }

    /// Error feedback carries exactly what the rank-1 projection dropped: sent + residual = the gradient.
    @Test func powerSGDErrorFeedbackKeepsWhatTheProjectionDropped() throws {
        let comm = try Communicator.local(size: 1)[0]
        let matrix = PowerSGDReducer.Matrix(offset: 0, rows: 6, cols: 5)
        let g: [Float] = (0..<30).map { Float(($0 * 13) % 11) - 5 }
        let reducer = PowerSGDReducer(communicator: comm, matrices: [matrix], rank: 1, errorFeedback: true)
        let sent = try reduced(reducer, g)
        let zero = [Float](repeating: 0, count: 30)
        // Next step, a zero gradient: only the residual is there to send, and over steps it drains.
        var total = sent
        for _ in 0..<40 { total = zip(total, try reduced(reducer, zero)).map { $0 + $1 } }
        let worst = zip(total, g).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-3, "sent over 41 steps differs from the gradient by \(worst)")
    }

    /// The parts of a bucket around its matrices (biases) are summed exactly, beside the compressed matrix.
    @Test func powerSGDSumsTheUncompressedPartsExactly() throws {
        let matrix = PowerSGDReducer.Matrix(offset: 3, rows: 6, cols: 5)  // [0, 3) bias, [3, 33) matrix, [33, 37) bias
        @Sendable func local(_ r: Int) -> [Float] { (0..<37).map { Float(($0 * 7 + r * 5) % 13) - 6 } }
        let comms = try Communicator.local(size: 2)
        let results = runRanks(comms) { c -> [Float] in
            let reducer = PowerSGDReducer(communicator: c, matrices: [matrix], rank: 1, errorFeedback: false)
            var v = local(c.rank)
            try v.withUnsafeMutableBufferPointer { b in
                try reducer.reduce(bucket: GradientBucket(index: 0, range: 0..<b.count, values: b))
            }
            return v
        }
        let got = try results.map { try $0.get() }
        let sum = zip(local(0), local(1)).map { $0 + $1 }
        #expect(got[0] == got[1])
        #expect(Array(got[0][0..<3]) == Array(sum[0..<3]))
        #expect(Array(got[0][33..<37]) == Array(sum[33..<37]))
        #expect(Array(got[0][3..<33]) != Array(sum[3..<33]), "rank 1 cannot carry this rank-5 matrix exactly")
    }

    /// A NaN that reaches the warm-started Q does not poison the steps after it.
    @Test func powerSGDRecoversFromANaNStep() throws {
        let comm = try Communicator.local(size: 1)[0]
        let matrix = PowerSGDReducer.Matrix(offset: 0, rows: 6, cols: 5)
        let reducer = PowerSGDReducer(communicator: comm, matrices: [matrix], rank: 2, errorFeedback: false)
        var poisoned = [Float](repeating: 1, count: 30)
        poisoned[7] = .nan
        _ = try reduced(reducer, poisoned)
        let g: [Float] = (0..<30).map { Float($0 % 5) + 1 }  // rank 1: PowerSGD at rank 2 carries it exactly
        let next = try reduced(reducer, g)
        #expect(next.allSatisfy { $0.isFinite }, "the step after a NaN must be finite: \(next)")
        let worst = zip(next, g).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-3, "\(next)")
    }

    /// With error feedback (the default), a step whose gradient held NaN or infinity (skipped by the trainer) must
    /// not leave its non-finite values in the residual: every later step would add them back, and the job would
    /// skip every step after one bad batch.
    @Test(arguments: ["bf16", "fp16", "powersgd", "topk"])
    func errorFeedbackForgetsANonFiniteStep(method: String) throws {
        let comm = try Communicator.local(size: 1)[0]
        let reducer: GradientReducer
        switch method {
        case "bf16": reducer = HalfPrecisionReducer(communicator: comm, wire: .bfloat16, errorFeedback: true)
        case "fp16": reducer = HalfPrecisionReducer(communicator: comm, wire: .float16, errorFeedback: true)
        case "powersgd":
            reducer = PowerSGDReducer(
                communicator: comm, matrices: [PowerSGDReducer.Matrix(offset: 0, rows: 6, cols: 5)], rank: 1,
                errorFeedback: true)
        default: reducer = TopKReducer(communicator: comm, density: 0.1, errorFeedback: true)
        }
        for bad in [Float.nan, .infinity, -.infinity] {
            var poisoned: [Float] = (0..<30).map { Float($0 % 7) * 0.3 + 0.001 }
            for i in [2, 11, 17, 23, 29] { poisoned[i] = bad }
            _ = try reduced(reducer, poisoned)
            let g: [Float] = (0..<30).map { Float($0 % 5) + 1 }
            let next = try reduced(reducer, g)
            #expect(next.allSatisfy { $0.isFinite }, "\(method), after \(bad): \(next)")
        }
    }

    static let methods: [GradientSpec] = [
        GradientSpec(compression: .bf16), GradientSpec(compression: .fp16),
        GradientSpec(compression: .powersgd, rank: 2), GradientSpec(compression: .powersgd, rank: 1, startStep: 5),
        GradientSpec(compression: .topk, density: 0.05),
    ]

    @Test(arguments: methods)
    func replicasStayBitwiseIdenticalAsThreads(_ spec: GradientSpec) throws {
        let job = smallJob(steps: 20, batch: 30)
        let data = try job.loadData()
        let comms = try Communicator.local(size: 3)
        let results = runRanks(comms) { comm in
            var a = assignment(rank: comm.rank, ranks: 3, job: job)
            a.parallelism.gradient = spec
            a.run.bucketBytes = 512  // several buckets
            let w = try DataParallelWorker(assignment: a, data: data, communicator: comm, control: nil)
            _ = try w.run()
            return w.trainer.model.parameters.array
        }
        let params = try results.map { try $0.get() }
        for p in params.dropFirst() { #expect(p == params[0], "\(spec.compression): replicas differ") }
        #expect(params[0].allSatisfy { $0.isFinite })
    }

    @Test(arguments: ["bf16", "powersgd", "topk"])
    func replicasStayBitwiseIdenticalAsProcessesOverTCP(_ method: String) throws {
        let binary = try requireCohortBinary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-compress-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = """
            cluster: {name: compress, coordinator: {host: 127.0.0.1, port: 5555}, data_ports: 5600, interface: 127.0.0.1}
            hosts: [{address: 127.0.0.1, workers: 2}]
            job:
              model: {layers: [784, 64, 10]}
              data: {dataset: synthetic, max_train_examples: 2000, max_test_examples: 200}
              batch_size: 64
              steps: 20
              seed: 3
            parallelism: {data_parallel: 2, gradient: {compression: \(method), rank: 2, density: 0.05}}
            timeouts: {heartbeat_interval_s: 0.5, peer_deadline_s: 10, rendezvous_timeout_s: 30}
            """
        let config = dir.appendingPathComponent("cluster.yaml").path
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        // Shared memory off: the gradients cross tcp sockets.
        let r = try ProcessRunner.run(
            binary.path, ["launch", config, "--json", "--ephemeral-ports"], timeout: 60,
            environment: ProcessInfo.processInfo.environment.merging(["COHORT_SHARED_MEMORY": "0"]) { $1 })
        #expect(r.status == 0, "\(r.stderr)")
        let line = r.stdout.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? ""
        let done = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(r.stdout)")
        let sums = try #require(done["weight_checksums"] as? [String])
        #expect(sums.count == 2 && Set(sums).count == 1, "\(method): \(sums)")
        #expect((done["socket_bytes"] as? Int ?? 0) > 0)
    }

    static let badValues: [ClusterConfigTests.BadCase] = [
        .init(
            old: "  pipeline_stages: 1", new: "  pipeline_stages: 1\n  gradient: {compression: powersgd, rank: 0}",
            keyPath: "parallelism.gradient.rank", message: "must be within 1...1024, got 0", lineMarker: "rank: 0"),
        .init(
            old: "  pipeline_stages: 1", new: "  pipeline_stages: 1\n  gradient:\n    compression: topk\n    density: 1.5",
            keyPath: "parallelism.gradient.density", message: "must be in (0, 1], got 1.5", lineMarker: "density: 1.5"),
        .init(
            old: "  pipeline_stages: 1", new: "  pipeline_stages: 1\n  gradient: {compression: bf16, start_step: -1}",
            keyPath: "parallelism.gradient.start_step", message: "must not be negative", lineMarker: "start_step: -1"),
        .init(
            old: "  pipeline_stages: 1", new: "  pipeline_stages: 1\n  gradient: {compression: zip}",
            keyPath: "parallelism.gradient.compression", message: "zip", lineMarker: "compression: zip"),
    ]

    @Test(arguments: badValues) func badCompressionValuesNameTheirKeyAndLine(_ c: ClusterConfigTests.BadCase) {
        ClusterConfigTests().expectError(c)
    }
}

extension GradientSpec: CustomTestStringConvertible {
    public var testDescription: String { "\(compression.rawValue) r\(rank) d\(density) from \(startStep)" }
}
