import ArgumentParser

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "Generate a CURVE key pair for the cluster.")

    func run() throws {
        throw CleanExit.message("cohort keys: not implemented yet")
    }
}
