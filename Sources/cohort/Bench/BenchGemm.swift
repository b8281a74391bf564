import ArgumentParser

struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "GEMM GFLOP/s against the measured FMA peak.")

    func run() throws {
        throw CleanExit.message("cohort gemm: not implemented yet")
    }
}
