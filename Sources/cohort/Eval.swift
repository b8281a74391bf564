import ArgumentParser
import Foundation
import NN
import Training

/// `cohort eval MODEL`: accuracy, size, latency and throughput of a model file (fp32, pruned or int8; the format
/// is read from the file) on this machine, one thread.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Test accuracy, bytes, latency and throughput of a model file (fp32, pruned or int8).")

    @Argument(help: "A model file (cohort train --output, cohort compress ...).") var model: String
    @Option(help: "Batch sizes to time.", transform: CommaList.parse) var batch = CommaList<Int>([1, 128])
    @Option(help: "Seconds of timed calls per batch size.") var seconds = 1.0
    @Option(help: "Fashion-MNIST folder (default: the standard one).") var dataPath: String?
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard batch.items.allSatisfy({ $0 >= 1 && $0 <= 65_536 }), !batch.items.isEmpty else {
            throw ValidationError("--batch \(batch.text): every batch size must be in 1…65536")
        }
        guard seconds > 0 && seconds <= 600 else { throw ValidationError("--seconds \(seconds): expected (0, 600]") }
    }

    func run() throws {
        do { try evaluate() } catch let e as ValidationError { throw e } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }

    private func evaluate() throws {
        let file = try ModelFile.load(model)
        let data = try file.loadData(dataPath: dataPath)
        let bench = InferenceBenchmark(model: file.model, test: data.test)
        let accuracy = bench.accuracy()
        let timings = batch.items.map { bench.time(batch: $0, seconds: seconds) }
        if outputOptions.json {
            var fields: [(String, BenchLine.Value)] = [
                ("bench", .string("eval")), ("model", .string(model)), ("format", .string(file.format.rawValue)),
                ("test_accuracy", .fixed(accuracy, digits: 4)), ("bytes", .int(file.bytes)),
            ]
            for t in timings {
                fields += [
                    ("latency_ms_batch\(t.batch)", .fixed(t.medianMs, digits: 4)),
                    ("p99_ms_batch\(t.batch)", .fixed(t.p99Ms, digits: 4)),
                    ("samples_per_s_batch\(t.batch)", .fixed(t.samplesPerSecond, digits: 1)),
                ]
            }
            print(BenchLine(fields).text)
        } else {
            print(
                "\(model): \(file.format.rawValue), \(file.bytes) bytes, test accuracy \(String(format: "%.4f", accuracy)) on \(data.test.count) examples"
            )
            for t in timings {
                print(
                    String(
                        format: "batch %5d  latency median %.4f ms  p99 %.4f ms  %.0f samples/s", t.batch, t.medianMs, t.p99Ms,
                        t.samplesPerSecond))
            }
        }
    }
}
