import ArgumentParser

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a model in one process (flags or a YAML job: section).")

    func run() throws {
        throw CleanExit.message("cohort train: not implemented yet")
    }
}
