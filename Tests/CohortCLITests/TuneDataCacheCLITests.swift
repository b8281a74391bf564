import CohortTestSupport
import Datasets
import Foundation
import Testing

/// `cohort tune` decompresses a gzip Fashion-MNIST folder once into the study's folder, and its local trials read
/// the plain copy (a real study with trial processes on a small generated data set in Fashion-MNIST's format).
@Suite struct TuneDataCacheCLITests {
    /// 120 training and 40 test images of 28×28 whose class sets a bright row, gzip-compressed as Debian ships them.
    static func writeDataSet(_ dir: String) throws {
        func split(_ n: Int, _ prefix: String) throws {
            var pixels = [UInt8](repeating: 0, count: n * 784)
            var labels = [UInt8](repeating: 0, count: n)
            for i in 0..<n {
                let c = i % 10
                labels[i] = UInt8(c)
                for x in 0..<28 { pixels[i * 784 + (2 + 2 * c) * 28 + x] = UInt8(200 + (i * 7 + x) % 50) }
            }
            try IDX.write(
                IDXArray(dimensions: [n, 28, 28], bytes: pixels), to: "\(dir)/\(prefix)-images-idx3-ubyte.gz", compressed: true)
            try IDX.write(IDXArray(dimensions: [n], bytes: labels), to: "\(dir)/\(prefix)-labels-idx1-ubyte.gz", compressed: true)
        }
        try split(120, "train")
        try split(40, "t10k")
    }

    static func clusterYAML(data: String) -> String {
        """
        cluster:
          name: tune-cache
          coordinator: {host: 127.0.0.1, port: 5555}
        hosts:
          - {address: 127.0.0.1, workers: 2}
        job:
          model: {layers: [784, 16, 10], activation: relu, init: he_normal}
          optimizer: {name: momentum, lr: 0.05, momentum: 0.9}
          data: {dataset: fashion-mnist, path: \(data), synthetic_fallback: false}
          batch_size: 20
          epochs: 1
          seed: 7
        tune:
          scheduler: random
          trials: 2
          seed: 3
          space:
            optimizer.lr: {log_uniform: [0.01, 0.1]}

        """
    }

    @Test(.timeLimit(.minutes(4))) func trialsReadTheStudysDecompressedCopy() throws {
        let dir = try scratchDirectory("tune-cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("fmnist").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try Self.writeDataSet(data)
        let config = dir.appendingPathComponent("cluster.yaml").path
        try Self.clusterYAML(data: data).write(toFile: config, atomically: true, encoding: .utf8)
        let study = dir.appendingPathComponent("study/study.jsonl").path
        let r = try cohort(["tune", config, "--study", study, "--json", "--no-plot"], timeout: 90)
        #expect(r.status == 0, "\(r.stderr)")

        // The copy holds exactly the decompressed bytes of each source file, uncompressed.
        let cache = dir.appendingPathComponent("study/data").path
        for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            let copy = try Data(contentsOf: URL(fileURLWithPath: "\(cache)/\(name)"))
            #expect(copy.prefix(2) == Data([0, 0]), "\(name) is not a plain IDX file")
            #expect([UInt8](copy) == (try IDX.readAllBytes("\(data)/\(name).gz")), "\(name)")
        }
        // Every trial's job file points at the copy, and every trial produced a metric.
        let jobs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("study/trials").path)
            .filter { $0.hasSuffix(".yaml") }
        #expect(jobs.count == 2)
        for job in jobs {
            let text = try String(contentsOfFile: dir.appendingPathComponent("study/trials/\(job)").path, encoding: .utf8)
            #expect(text.contains(cache), "\(job): \(text)")
        }
        let done = try #require(lastJSONObject(r.stdout))
        #expect((done["best_test_accuracy"] as? Double ?? 0) > 0.5, "\(done)")

        // A second study in the same folder keeps the copy (same sources) instead of writing it again.
        let stamp = "\(cache)/train-images-idx3-ubyte"
        let before = try FileManager.default.attributesOfItem(atPath: stamp)[.modificationDate] as? Date
        let again = try cohort(
            ["tune", config, "--study", dir.appendingPathComponent("study/second.jsonl").path, "--json", "--no-plot"], timeout: 90
        )
        #expect(again.status == 0, "\(again.stderr)")
        let after = try FileManager.default.attributesOfItem(atPath: stamp)[.modificationDate] as? Date
        #expect(before != nil && before == after)
    }
}
