import ArgumentParser

struct BenchScaling: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scaling", abstract: "Data-parallel speedup at several worker counts.")

    func run() throws {
        throw CleanExit.message("cohort scaling: not implemented yet")
    }
}
