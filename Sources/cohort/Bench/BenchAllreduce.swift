import ArgumentParser

struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allreduce", abstract: "All-reduce latency and bus bandwidth across rank processes.")

    func run() throws {
        throw CleanExit.message("cohort allreduce: not implemented yet")
    }
}
