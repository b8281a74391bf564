import ArgumentParser

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run one worker that registers with a coordinator.")

    func run() throws {
        throw CleanExit.message("cohort worker: not implemented yet")
    }
}
