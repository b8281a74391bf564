import ArgumentParser

struct BenchPipeline: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pipeline", abstract: "Pipeline schedules: step time and bubble.")

    func run() throws {
        throw CleanExit.message("cohort pipeline: not implemented yet")
    }
}
