import ArgumentParser
import Foundation

@main
struct Cohort: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cohort",
        abstract: "Distributed training over ZeroMQ: data and pipeline parallelism on a few machines.",
        subcommands: [
            Train.self, Launch.self, CoordinatorCommand.self, WorkerCommand.self,
            Validate.self, Bench.self, Keys.self,
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

    private static func exitWithOneLine(_ error: any Error) -> Never {
        let code = exitCode(for: error)
        if code == .success { exit(withError: error) }
        let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? ""
        if !message.isEmpty {
            let hint = code == .validationFailure ? " (see --help)" : ""
            FileHandle.standardError.write(Data("cohort: \(message)\(hint)\n".utf8))
        }
        Foundation.exit(code.rawValue)
    }
}
