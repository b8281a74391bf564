import ArgumentParser
import Config
import Foundation
import NN
import Tensors

/// `cohort bench conv`: each convolution layer of a workload (W3 by default), forward, weight gradient and input
/// gradient, in GFLOP/s beside the plain GEMM of the same shape, and the ratio (issue 17's target: ≥ 0.70).
struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Conv layers' forward and backward GFLOP/s beside the GEMM of the same shape (1 thread).")

    @Option(help: "A workload with convolutions: W3 or W4.") var workload: String = "W3"
    @Option(help: "Batch (default: the recipe's).") var batch: Int?
    @Option(help: "Timed samples per pass (the median is reported).") var reps = 7
    @Flag(
        name: .long,
        help: "Time with the thread's CPU clock instead of the wall clock (a shared machine: other processes' turns excluded)."
    )
    var cpuTime = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard let job = JobSpec.recipe(named: workload) else {
            throw ValidationError("--workload: expected W3 or W4, got \"\(workload)\"")
        }
        let batch = self.batch ?? job.batchSize
        guard batch >= 1, reps >= 3 else { throw ValidationError("--batch must be ≥ 1 and --reps ≥ 3") }
        let model = try job.makeModel()
        let convs = model.layers.enumerated().compactMap { i, l in (l as? Conv2D).map { (i, $0) } }
        guard !convs.isEmpty else { throw ValidationError("--workload \(workload) has no convolution layers") }
        let kernel = GEMMKernel.selected
        if !output.json {
            print("cohort bench conv: \(job.workload ?? workload), batch \(batch), kernel \(kernel), 1 thread")
            print("layer  pass              m      n      k  op  conv GFLOP/s  GEMM GFLOP/s  ratio")
        }
        for (index, layer) in convs {
            let conv = Conv2D(
                input: layer.input, outChannels: layer.output.channels, kernel: layer.kernel, stride: layer.stride,
                padding: layer.padding, groups: layer.groups)
            let calls = passCalls(conv, batch: batch)
            for pass in ConvBenchPass.passes(of: conv, layer: index, batch: batch) {
                let (convSeconds, gemmSeconds) = pairedMedianSeconds(
                    reps: reps, clock: cpuTime ? threadCPUSeconds : wallSeconds, calls[pass.kind]!, pass.gemmCall())
                report(pass, conv: pass.flops / convSeconds / 1e9, gemm: pass.flops / gemmSeconds / 1e9, kernel: kernel)
            }
        }
    }

    /// Closures running each pass of `conv` on random data; forward runs once first so the backward passes have
    /// their columns (the input-gradient pass overwrites them, so it is timed last and repeats only itself).
    private func passCalls(_ conv: Conv2D, batch: Int) -> [ConvBenchPass.Kind: () -> Void] {
        let params = Tensor(shape: [conv.parameterCount])
        conv.bind(parameters: params, gradients: Tensor(shape: [conv.parameterCount]))
        var rng = Xoshiro256(seed: 5)
        conv.initialize(.heNormal, rng: &rng)
        let x = Tensor(shape: [batch, conv.input.count])
        let dy = Tensor(shape: [batch, conv.output.count])
        for t in [x, dy] {
            for i in 0..<t.count { t.pointer[i] = Float.random(in: -1..<1, using: &rng) }
        }
        return [
            .forward: { _ = conv.forward(x, training: true) },
            .weightGradient: { conv.weightGradients(dy, accumulate: false) },
            .inputGradient: { _ = conv.inputGradient() },
        ]
    }

    private func report(_ p: ConvBenchPass, conv: Double, gemm: Double, kernel: GEMMKernel) {
        let op = (p.transA ? "T" : "N") + (p.transB ? "T" : "N")
        if output.json {
            print(
                BenchLine([
                    ("bench", .string("conv")), ("workload", .string(workload.uppercased())), ("layer", .int(p.layer)),
                    ("pass", .string(p.kind.rawValue)), ("m", .int(p.m)), ("n", .int(p.n)), ("k", .int(p.k)),
                    ("op", .string(op)), ("groups", .int(p.groups)), ("conv_gflops", .fixed(conv, digits: 2)),
                    ("gemm_gflops", .fixed(gemm, digits: 2)), ("ratio", .fixed(conv / gemm, digits: 3)),
                    ("kernel", .string("\(kernel)")), ("clock", .string(cpuTime ? "thread_cpu" : "wall")),
                ]).text)
        } else {
            print(
                String(format: "%5d  ", p.layer) + p.kind.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
                    + String(format: " %5d %6d %6d  %@  %12.1f  %12.1f  %5.2f", p.m, p.n, p.k, op, conv, gemm, conv / gemm))
        }
    }
}
