import ArgumentParser

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coordinator", abstract: "Run the coordinator: rendezvous, heartbeats, metrics, checkpoints.")

    func run() throws {
        throw CleanExit.message("cohort coordinator: not implemented yet")
    }
}
