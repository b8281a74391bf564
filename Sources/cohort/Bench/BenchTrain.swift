import ArgumentParser

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Training throughput in samples/s.")

    func run() throws {
        throw CleanExit.message("cohort train: not implemented yet")
    }
}
