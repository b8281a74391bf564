import ArgumentParser

/// Options every reporting command shares.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON lines instead of a table.")
    var json = false
}
