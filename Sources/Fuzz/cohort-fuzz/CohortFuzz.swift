import Foundation

#if COHORT_FUZZING
    import CFuzzerDriver
#endif

/// `cohort-fuzz`: the fuzz targets of FuzzTargets.swift behind one executable.
///
///     cohort-fuzz list                          the targets
///     cohort-fuzz replay [CORPUS]               every file of CORPUS/<target>/ through its target (default
///                                               Tests/FuzzCorpus); a crash is a failure, thrown errors are not
///     cohort-fuzz seed DIR                      writes the generated seed corpus to DIR/<target>/
///     cohort-fuzz TARGET [libFuzzer options and corpus directories]
///                                               (built with -sanitize=fuzzer -D COHORT_FUZZING) fuzzes TARGET;
///                                               in a plain build, replays the given files and directories
@main
struct CohortFuzz {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let command = arguments.first else { usage() }
        switch command {
        case "list":
            for target in FuzzTarget.all { print("\(target.name)\t\(target.summary)") }
        case "replay":
            replayCorpus(arguments.count > 1 ? arguments[1] : "Tests/FuzzCorpus")
        case "seed":
            guard arguments.count == 2 else { usage() }
            do { try FuzzSeeds.write(to: arguments[1]) } catch { fail("cannot write the seeds: \(error)") }
        default:
            guard let target = FuzzTarget.named(command) else { usage() }
            #if COHORT_FUZZING
                fuzz(target)
            #else
                let count = replay(target, paths: Array(arguments.dropFirst()))
                print("\(target.name): \(count) inputs replayed, no crash")
            #endif
        }
    }

    static func usage() -> Never {
        let names = FuzzTarget.all.map(\.name).joined(separator: " | ")
        fail("usage: cohort-fuzz list | replay [CORPUS] | seed DIR | (\(names)) [libFuzzer options] [CORPUS…]")
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("cohort-fuzz: \(message)\n".utf8))
        exit(2)
    }

    /// Every target over its directory of the corpus; a target without one is an error (the corpus lost a folder).
    static func replayCorpus(_ corpus: String) {
        for target in FuzzTarget.all {
            let directory = "\(corpus)/\(target.name)"
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                fail("no corpus for \(target.name) at \(directory)")
            }
            let count = replay(target, paths: [directory])
            print("\(target.name): \(count) inputs replayed, no crash")
        }
    }

    /// Runs each file (directories: each file in them, sorted) through the target; returns how many.
    static func replay(_ target: FuzzTarget, paths: [String]) -> Int {
        var count = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { fail("no such file: \(path)") }
            var files = [path]
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files = names.sorted().map { "\(path)/\($0)" }
            }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)") }
                data.withUnsafeBytes { target.run($0) }
                count += 1
            }
        }
        try? FileManager.default.removeItem(atPath: FuzzTarget.scratchFile("idx"))
        return count
    }

    #if COHORT_FUZZING
        nonisolated(unsafe) static var selected: FuzzTarget? = nil

        /// Hands the process to libFuzzer with the target's name taken out of argv (libFuzzer reads the rest).
        static func fuzz(_ target: FuzzTarget) -> Never {
            selected = target
            var argv: [UnsafeMutablePointer<CChar>?] = [strdup(CommandLine.arguments[0])]
            argv += CommandLine.arguments.dropFirst(2).map { strdup($0) }
            argv.append(nil)
            var argc = Int32(argv.count - 1)
            let status = argv.withUnsafeMutableBufferPointer { buffer in
                var pointer = buffer.baseAddress
                return LLVMFuzzerRunDriver(&argc, &pointer) { data, size in
                    CohortFuzz.selected?.run(UnsafeRawBufferPointer(start: data, count: size))
                    return 0
                }
            }
            exit(status)
        }
    #endif
}
