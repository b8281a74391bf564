import ArgumentParser

@main
struct Cohort: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cohort",
        abstract: "Distributed training over ZeroMQ: data and pipeline parallelism on a few machines.",
        subcommands: [
            Train.self, Launch.self, CoordinatorCommand.self, WorkerCommand.self,
            Validate.self, Bench.self, Keys.self,
        ])
}
