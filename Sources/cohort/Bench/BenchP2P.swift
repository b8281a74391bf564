import ArgumentParser

struct BenchP2P: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "p2p", abstract: "One-way point-to-point throughput.")

    func run() throws {
        throw CleanExit.message("cohort p2p: not implemented yet")
    }
}
