import ArgumentParser
import Foundation
import Runtime
import Training

@main
struct Cohort: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cohort",
        abstract: "Distributed training over ZeroMQ: data and pipeline parallelism on a few machines.",
        subcommands: [
            Train.self, Launch.self, CoordinatorCommand.self, WorkerCommand.self,
            Validate.self, Bench.self, Keys.self, TuneCommand.self, Compress.self, Eval.self, Plot.self,
        ])

    /// ArgumentParser's main, except that a failure is ONE line on stderr (`cohort: MESSAGE`), as everywhere else in
    /// Cohort: scripts and launchers log it as one record, and the usage block no longer buries the cause.
    /// --help and --version keep their full text.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exitWithOneLine(error)
        }
    }

    /// The exit status of a run that ended because its loss or gradient norm stopped being finite: an outcome
    /// a script can tell from a failure (1). `launch` sees it as a worker's failure text, so the text decides.
    static let divergedStatus: Int32 = 3

    private static func exitWithOneLine(_ error: any Error) -> Never {
        let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? ""
        let diverged = error is TrainingDiverged || message.contains("training diverged: ")
        let code = diverged ? ExitCode(divergedStatus) : exitCode(for: error)
        if code == .success { exit(withError: error) }
        if !message.isEmpty {
            let hint = code == .validationFailure ? " (see --help)" : ""
            FileHandle.standardError.write(Data("cohort: \(message)\(hint)\n".utf8))
        }
        Foundation.exit(code.rawValue)
    }
}
