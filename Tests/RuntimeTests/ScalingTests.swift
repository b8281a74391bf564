import CohortTestSupport
import Foundation
import Parallel
import Runtime
import Testing
import Training

/// The α–β model and step-time predictor on known numbers, and a real `cohort bench scaling` run.
struct ScalingModelTests {
    @Test func ringAllReduceCostFollowsTheAlphaBetaFormula() {
        // α = 10 µs, 1 GB/s: β = 1 ns per byte.
        let m = AlphaBetaModel(latencyMicroseconds: 10, bandwidthGBps: 1)
        #expect(abs(m.alpha - 10e-6) < 1e-15 && abs(m.beta - 1e-9) < 1e-20)
        // N = 4, S = 1 MB, 3 buckets: 2·3·3·10 µs + 2·3/4 · 10⁶ B · 1 ns = 180 µs + 1.5 ms.
        #expect(abs(m.allReduceSeconds(workers: 4, bytes: 1e6, buckets: 3) - 1.68e-3) < 1e-12)
        // N = 2, one bucket: 2·10 µs + 1 · S · β.
        #expect(abs(m.allReduceSeconds(workers: 2, bytes: 4e6) - (20e-6 + 4e-3)) < 1e-12)
        // One worker reduces nothing.
        #expect(m.allReduceSeconds(workers: 1, bytes: 1e9, buckets: 10) == 0)
        // Large N: the bandwidth term tends to 2·S·β, the latency term grows linearly.
        let big = m.allReduceSeconds(workers: 1024, bytes: 1e6)
        let bigLatency: Double = 2 * 1023 * 10e-6
        let bigBandwidth: Double = 2 * 1023.0 / 1024 * 1e-3
        #expect(abs(big - (bigLatency + bigBandwidth)) < 1e-12)
    }

    @Test func fitRecoversAlphaAndBetaFromExactTimings() throws {
        for n in [2, 3, 8] {
            let truth = AlphaBetaModel(latencyMicroseconds: 37, bandwidthGBps: 0.8)
            let sizes: [Double] = [4096, 65536, 1_048_576, 12e6]
            let exact: [(bytes: Double, seconds: Double)] = sizes.map { ($0, truth.allReduceSeconds(workers: n, bytes: $0)) }
            let fit = try AlphaBetaModel.fit(workers: n, samples: exact)
            #expect(abs(fit.alpha / truth.alpha - 1) < 1e-6, "n=\(n): α \(fit.alpha)")
            #expect(abs(fit.beta / truth.beta - 1) < 1e-6, "n=\(n): β \(fit.beta)")
        }
        // Noisy timings (±5%) still land near the truth.
        let truth = AlphaBetaModel(latencyMicroseconds: 50, bandwidthGBps: 0.7)
        let noise: [Double] = [1.05, 0.95, 1.03, 0.97, 1.02]
        let sizes: [Double] = [4096, 65536, 1_048_576, 4_194_304, 12e6]
        var noisy: [(bytes: Double, seconds: Double)] = []
        for (bytes, factor) in zip(sizes, noise) {
            noisy.append((bytes, truth.allReduceSeconds(workers: 2, bytes: bytes) * factor))
        }
        let fit = try AlphaBetaModel.fit(workers: 2, samples: noisy)
        #expect(abs(fit.latencyMicroseconds / 50 - 1) < 0.2 && abs(fit.bandwidthGBps / 0.7 - 1) < 0.1)
        // One size or one rank cannot give both terms.
        #expect(throws: RuntimeError.self) { try AlphaBetaModel.fit(workers: 2, samples: [(4096, 1e-4), (4096, 1.1e-4)]) }
        #expect(throws: RuntimeError.self) { try AlphaBetaModel.fit(workers: 1, samples: [(4096, 1e-4), (8192, 2e-4)]) }
    }

    @Test func predictorAddsAllReduceToMeasuredOrScaledCompute() {
        let link = AlphaBetaModel(latencyMicroseconds: 50, bandwidthGBps: 1)
        let crowded = AlphaBetaModel(latencyMicroseconds: 200, bandwidthGBps: 0.5)
        let p = ScalingPredictor(
            model: link, gradientBytes: 8e6, buckets: 2, globalBatch: 256,
            measuredCompute: [1: 0.064, 2: 0.040], modelsByWorkers: [2: crowded])
        // Measured counts use their own compute and their own α–β fit.
        #expect(p.stepSeconds(workers: 1) == 0.064)
        let latency2: Double = 2 * 2 * 200e-6
        let bandwidth2: Double = 8e6 * 2e-9
        #expect(abs(p.stepSeconds(workers: 2) - (0.040 + latency2 + bandwidth2)) < 1e-12)
        // Others scale the 1-worker compute by 1/N and use the link's α and β.
        let compute8: Double = 0.064 / 8
        let latency8: Double = 2 * 7 * 2 * 50e-6
        let bandwidth8: Double = 2 * 7.0 / 8 * 8e6 * 1e-9
        let t8 = compute8 + latency8 + bandwidth8
        #expect(abs(p.stepSeconds(workers: 8) - t8) < 1e-12)
        #expect(abs(p.samplesPerSecond(workers: 8) - 256 / t8) < 1e-6)
        #expect(abs(p.speedup(workers: 8) - 0.064 / t8) < 1e-9)
        // Full overlap hides the all-reduce up to backward's share (2/3) of compute, never more.
        var hidden = p
        hidden.overlap = 1
        let c: Double = 0.064 / 64
        let ar = link.allReduceSeconds(workers: 64, bytes: 8e6, buckets: 2)
        let exposed: Double = max(0, ar - 2.0 / 3 * c)
        #expect(abs(hidden.stepSeconds(workers: 64) - (c + exposed)) < 1e-12)
        let tiny = ScalingPredictor(
            model: AlphaBetaModel(alpha: 0, beta: 1e-15), gradientBytes: 1, buckets: 1, globalBatch: 1,
            measuredCompute: [1: 1], overlap: 1)
        #expect(tiny.stepSeconds(workers: 2) == 0.5)
        #expect(ScalingPredictor.powersOfTwo(upTo: 1024) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    }
}

@Suite(.serialized, .timeLimit(.minutes(4)))
struct ScalingBenchProcessTests {
    @Test func benchScalingMeasuresPredictsAndWritesCSV() throws {
        let binary = try requireCohortBinary()
        let dir = try temporaryDirectory()
        let config = try writeClusterFile(workers: 2, epochs: 1, dir: dir)
        let csv = dir.appendingPathComponent("scaling.csv")
        let r = try ProcessRunner.run(
            binary.path,
            [
                "bench", "scaling", config.path, "--workers", "1,2", "--steps", "20",
                "--warmup", "5", "--json", "--csv", csv.path,
            ], timeout: 90)
        #expect(r.status == 0, "bench scaling failed: \(r.stderr)")
        let lines = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(lines.allSatisfy { $0["bench"] as? String == "scaling" })
        let measured = lines.filter { $0["kind"] as? String == "measured" }
        #expect(measured.map { number($0["workers"]).map { Int($0) } } == [1, 2])
        for m in measured {
            for key in [
                "samples_per_s", "ceiling_samples_per_s", "speedup", "efficiency", "measured_step_s", "predicted_step_s",
                "compute_s", "allreduce_s", "wait_s",
            ] {
                let v = try #require(number(m[key]), "\(key) missing in \(m)")
                #expect(v.isFinite && v >= 0, "\(key) = \(v)")
            }
            let n = number(m["workers"])!
            let step = number(m["measured_step_s"])!
            let sps = number(m["samples_per_s"])!
            // The synthetic job's global batch is 60 whatever the worker count.
            #expect(abs(sps * step / 60 - 1) < 0.01, "samples/s \(sps) × step \(step) is not the global batch")
            #expect(abs(number(m["efficiency"])! - number(m["speedup"])! / n) < 0.002)
        }
        if let one = measured.first {
            #expect(number(one["speedup"]) == 1)
            #expect(number(one["allreduce_s"]) == 0, "one worker must not all-reduce")
        }
        if measured.count == 2 { #expect(number(measured[1]["allreduce_s"])! > 0, "two workers must all-reduce") }
        let fits = lines.filter { $0["kind"] as? String == "alpha_beta" }
        // The latency is a fit's intercept, printed to 0.01 µs: under a loaded machine (the parallel test run) it
        // can round to 0.00, so only its sign is checked; the bandwidth must be positive.
        #expect(
            fits.count == 1 && (number(fits.first?["latency_us"]) ?? -1) >= 0 && (number(fits.first?["bandwidth_gbps"]) ?? 0) > 0,
            "\(fits)")
        let predicted = lines.filter { $0["kind"] as? String == "prediction" }
        #expect(predicted.compactMap { number($0["workers"]).map { Int($0) } } == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
        // The CSV has a header, the measured rows and the predicted rows.
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        #expect(rows.first.map(String.init) == ScalingCSV.header)
        #expect(rows.filter { $0.hasPrefix("measured,") }.count == 2 && rows.filter { $0.hasPrefix("predicted,") }.count == 11)
    }

    @Test func badWorkerListIsAOneLineError() throws {
        let binary = try requireCohortBinary()
        let r = try ProcessRunner.run(binary.path, ["bench", "scaling", "--workers", "1,0"], timeout: 30)
        #expect(r.status != 0)
        #expect(r.stderr.contains("--workers"), "stderr: \(r.stderr)")
    }
}

/// A JSON number as a Double, whether JSONSerialization made it an integer or not.
private func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
