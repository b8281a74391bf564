import ArgumentParser

struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "launch", abstract: "Start the coordinator and all workers of a cluster.yaml.")

    func run() throws {
        throw CleanExit.message("cohort launch: not implemented yet")
    }
}
