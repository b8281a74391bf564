import CohortTestSupport
import Foundation
import Testing

/// `cohort plot` and the plots `launch` writes at the end of a run (issue 18), from a recorded metrics file.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct PlotCLITests {
    static let pngs = ["loss.png", "accuracy.png", "samples_per_rank.png", "time_split.png"]

    /// Width and height from a PNG's IHDR chunk; nil when the file is not a PNG.
    static func pngSize(_ url: URL) -> (Int, Int)? {
        guard let d = try? Data(contentsOf: url), d.count > 24,
            d.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        else { return nil }
        let be = { (o: Int) in d[o..<o + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }

    static var matplotlib: Bool {
        ((try? ProcessRunner.run("/usr/bin/env", ["python3", "-c", "import matplotlib"], timeout: 60))?.status ?? 1) == 0
    }

    @Test func launchWritesPlotsAndPlotRedrawsThem() throws {
        guard Self.matplotlib else {
            print("skipped: matplotlib is not installed (scripts/setup.sh installs it)")
            return
        }
        let dir = try scratchDirectory("plot")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("cluster.yaml").path
        let yaml = smallClusterYAML(workers: 2, steps: 600, dir: dir).replacingOccurrences(
            of: "output: {metrics_file: \(dir.path)/metrics.jsonl}",
            with: "output: {metrics_file: \(dir.path)/metrics.jsonl, plot_directory: \(dir.path)/plots}")
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cohort(["launch", config, "--ephemeral-ports"], timeout: 90)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("plots: 4 PNGs in \(dir.path)/plots"), "\(r.stderr)")
        for name in Self.pngs { try expectPlot(dir.appendingPathComponent("plots/\(name)")) }
        // The recorded file again, by folder, somewhere else.
        let out = dir.appendingPathComponent("again")
        let p = try cohort(["plot", dir.path, "--out", out.path], timeout: 90)
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout.split(separator: "\n").count == 4, "\(p.stdout)")
        for name in Self.pngs { try expectPlot(out.appendingPathComponent(name)) }
    }

    func expectPlot(_ url: URL) throws {
        let size = try #require(Self.pngSize(url), "\(url.path) is not a PNG")
        #expect(size == (1000, 600), "\(url.lastPathComponent) is \(size)")
        let bytes = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        #expect(bytes > 15_000, "\(url.lastPathComponent) has \(bytes) bytes: an empty plot?")
    }

    @Test func badInputIsOneLineError() throws {
        let missing = try cohort(["plot", "/nonexistent/run"], timeout: 30)
        #expect(missing.status != 0 && missing.stderrLines.count == 1, "\(missing.stderr)")
        #expect(missing.stderr.contains("/nonexistent/run"))
        let dir = try scratchDirectory("plot-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("metrics.jsonl")
        try "not json\n{\"event\":\"other\"}\n".write(to: junk, atomically: true, encoding: .utf8)
        let r = try cohort(["plot", junk.path], timeout: 60)
        #expect(r.status != 0, "\(r.stdout)")
        #expect(r.stderr.contains("no progress or epoch records"), "\(r.stderr)")
        let empty = try cohort(
            ["plot", dir.appendingPathComponent("..").path + "/" + dir.lastPathComponent + "/nothing"], timeout: 30)
        #expect(empty.status != 0)
    }
}
