import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: kernels, training throughput, collectives, scaling, pipelines.",
        subcommands: [
            BenchGemm.self, BenchTrain.self, BenchAllreduce.self, BenchP2P.self, BenchScaling.self, BenchPipeline.self,
            BenchRank.self, BenchRoofline.self, BenchConv.self,
        ])
}
