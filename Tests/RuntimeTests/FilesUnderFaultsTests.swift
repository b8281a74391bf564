import Foundation
import NN
import Runtime
import Testing
import Training

/// Whether this process may mount a small tmpfs (root in a namespace that allows it): the only honest way to fill
/// a disk or make a folder read-only for root, whom permission bits don't stop.
private let mayMountTmpfs: Bool = {
    guard getuid() == 0 else { return false }
    let probe = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-mount-probe-\(getpid())").path
    try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: probe) }
    guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]) == 0 else { return false }
    _ = run("/bin/umount", [probe])
    return true
}()

@discardableResult
private func run(_ tool: String, _ arguments: [String]) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = arguments
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}

/// A checkpoint or metrics write that meets a full disk or a read-only folder is one error line; the previous
/// checkpoint stays the newest loadable one and nothing half-written is left.
@Suite(.serialized) struct FilesUnderFaultsTests {
    /// A tmpfs of `kilobytes` mounted on a fresh folder for the length of `body`.
    func withSmallDisk(kilobytes: Int, _ body: (String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cohort-disk-\(UInt32.random(in: 0...UInt32.max))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer {
            run("/bin/umount", [dir])
            try? FileManager.default.removeItem(atPath: dir)
        }
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", dir]) == 0 else {
            throw CheckpointError(path: dir, message: "mount failed")
        }
        try body(dir)
    }

    static let layout = [TensorLayout(name: "w", shape: [64])]

    func save(_ store: CheckpointStore, step: Int, floats: Int) throws(CheckpointError) {
        let values = [Float](repeating: Float(step), count: floats)
        try values.withUnsafeBufferPointer { (flat) throws(CheckpointError) in
            _ = try store.save(
                layout: [TensorLayout(name: "w", shape: [floats])], flat: flat,
                state: CheckpointState(step: step, epoch: 0, dataCursor: step, rngState: [1]))
        }
    }

    func leftovers(_ dir: String, besides kept: Checkpoint?) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let keep = [kept?.manifestPath, kept?.weightsPath, kept?.statePath].compactMap {
            $0.map { ($0 as NSString).lastPathComponent }
        }
        return names.filter { !keep.contains($0) }
    }

    @Test(.enabled(if: mayMountTmpfs, "needs root and permission to mount a tmpfs"))
    func aFullDiskFailsTheSaveAndKeepsThePreviousCheckpoint() throws {
        try withSmallDisk(kilobytes: 128) { dir in
            let store = CheckpointStore(directory: dir, keep: 3)
            try save(store, step: 1, floats: 64)
            #expect {
                try save(store, step: 2, floats: 100_000)  // 400 KB on a 128 KB disk
            } throws: { error in
                let text = "\(error)"
                return text.contains(dir) && !text.contains("\n")
            }
            let newest = store.latestValid()
            #expect(newest?.step == 1)
            #expect(newest?.weights.tensors.first?.values.first == 1)
            #expect(leftovers(dir, besides: newest) == [], "left behind")
        }
    }

    @Test(.enabled(if: mayMountTmpfs, "needs root and permission to mount a tmpfs"))
    func aReadOnlyFolderFailsTheSaveAndKeepsThePreviousCheckpoint() throws {
        try withSmallDisk(kilobytes: 256) { dir in
            let store = CheckpointStore(directory: dir, keep: 3)
            try save(store, step: 1, floats: 64)
            #expect(run("/bin/mount", ["-o", "remount,ro", dir]) == 0)
            #expect(throws: CheckpointError.self) { try save(store, step: 2, floats: 64) }
            #expect(store.latestValid()?.step == 1)
            #expect(leftovers(dir, besides: store.latestValid()) == [])
        }
    }

    @Test(.enabled(if: mayMountTmpfs, "needs root and permission to mount a tmpfs"))
    func aFullDiskStopsTheMetricsNotTheRun() throws {
        try withSmallDisk(kilobytes: 16) { dir in
            let writer = try MetricsWriter(path: dir + "/metrics.jsonl")
            let line = ["padding": String(repeating: "x", count: 1000)]
            for _ in 0..<100 { writer.write(line: line) }  // 100 KB into 16 KB: the writer gives up once, quietly after
            let size = (try FileManager.default.attributesOfItem(atPath: dir + "/metrics.jsonl")[.size] as? Int) ?? 0
            #expect(size > 0 && size <= 16 * 1024)
        }
    }

    @Test func aResumedRunAppendsToTheMetricsFileAndANewRunStartsItAfresh() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cohort-metrics-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        ).path
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let first = try MetricsWriter(path: path)
            first.write(line: ["run": 1])
        }
        do {
            let resumed = try MetricsWriter(path: path, append: true)
            resumed.write(line: ["run": 2])
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"run\":1}\n{\"run\":2}\n")
        do {
            let fresh = try MetricsWriter(path: path)
            fresh.write(line: ["run": 3])
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"run\":3}\n")
    }
}
