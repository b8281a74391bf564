import ArgumentParser

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Check a cluster.yaml.")

    func run() throws {
        throw CleanExit.message("cohort validate: not implemented yet")
    }
}
