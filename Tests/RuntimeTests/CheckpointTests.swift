import Foundation
import NN
import Runtime
import Testing
import Training

/// Checkpoints: exact round trips, and that no crash point (simulated or a real SIGKILL) ever makes the newest
/// usable checkpoint anything but a complete one.
@Suite struct CheckpointTests {
    static let layout = [
        TensorLayout(name: "fc1.weight", shape: [16, 8]), TensorLayout(name: "fc1.bias", shape: [16]),
        TensorLayout(name: "fc2.weight", shape: [4, 16]), TensorLayout(name: "fc2.bias", shape: [4]),
    ]

    /// Weights that identify the step they were saved at (so a mix of two saves is detectable).
    static func weights(step: Int) -> [Float] {
        let count = layout.reduce(0) { $0 + $1.elementCount }
        return (0..<count).map { Float(step) + Float($0) * 0.001 }
    }

    static func state(step: Int) -> CheckpointState {
        CheckpointState(
            step: step, epoch: step / 10, dataCursor: (step % 10) * 128,
            rngState: [UInt64.max, 0, 0x9E37_79B9_7F4A_7C15, UInt64(step)],
            optimizerState: [
                "fc1.weight.momentum": [-0.0, 1e-38, Float.leastNonzeroMagnitude, .infinity, 0.1],
                "adam.v": (0..<5).map { Float($0) / 3 },
            ],
            info: ["workload": "W1", "loss": "0.4321"])
    }

    @discardableResult
    static func save(_ store: CheckpointStore, step: Int, crashPoint: CheckpointCrashPoint? = nil) throws -> String {
        try weights(step: step).withUnsafeBufferPointer {
            try store.save(
                layout: layout, flat: $0, state: state(step: step), metadata: ["step": "\(step)"], crashPoint: crashPoint)
        }
    }

    static func files(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    @Test func crc32MatchesTheStandardAndABitwiseReference() {
        #expect(CRC32.checksum(Data("123456789".utf8)) == 0xCBF4_3926)
        func bitwise(_ bytes: [UInt8]) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return ~crc
        }
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 7, 8, 9, 63, 64, 1000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(CRC32.checksum(Data(bytes)) == bitwise(bytes), "length \(length)")
            var split = CRC32()
            bytes.withUnsafeBytes { raw in
                split.update(UnsafeRawBufferPointer(rebasing: raw[0..<(length / 3)]))
                split.update(UnsafeRawBufferPointer(rebasing: raw[(length / 3)...]))
            }
            #expect(split.value == bitwise(bytes), "incremental, length \(length)")
        }
    }

    @Test func atomicWriteReplacesWholeFilesAndLeavesNoTemporaries() throws {
        let dir = try TestFiles.scratchDirectory("atomic")
        defer { TestFiles.cleanup(dir) }
        let path = dir.appendingPathComponent("f.bin").path
        try AtomicFile.write(Data(repeating: 1, count: 100_000), to: path)
        try AtomicFile.write(Data("short".utf8), to: path)
        #expect(FileManager.default.contents(atPath: path) == Data("short".utf8))
        #expect(Self.files(dir) == ["f.bin"])
        #expect(throws: CheckpointError.self) { try AtomicFile.write(Data(), to: dir.path + "/missing-dir/f.bin") }
    }

    @Test func roundTripIsExact() throws {
        let dir = try TestFiles.scratchDirectory("ckpt-rt")
        defer { TestFiles.cleanup(dir) }
        let store = CheckpointStore(directory: dir.path)
        try Self.save(store, step: 37)
        let loaded = try #require(store.latestValid())
        var expectedState = Self.state(step: 37)
        expectedState.weightsCRC32 = Self.weights(step: 37).withUnsafeBufferPointer { CRC32.checksum(floats: $0) }
        #expect(loaded.state.step == 37 && loaded.state.epoch == 3 && loaded.state.dataCursor == 7 * 128)
        #expect(loaded.state.rngState == expectedState.rngState)
        #expect(loaded.state.info == expectedState.info)
        #expect(loaded.state.weightsCRC32 == expectedState.weightsCRC32)
        for (name, values) in expectedState.optimizerState {
            #expect(loaded.state.optimizerState[name]?.map(\.bitPattern) == values.map(\.bitPattern), "\(name)")
        }
        #expect(loaded.state == expectedState)
        let flat = try loaded.weights.flatValues(layout: Self.layout)
        #expect(flat.map(\.bitPattern) == Self.weights(step: 37).map(\.bitPattern))
        #expect(loaded.weights.metadata == ["step": "37"])
        // The weights file is a plain safetensors file any tool can read.
        #expect(try SafeTensors.read(path: loaded.weightsPath).tensors.map(\.name) == Self.layout.map(\.name))
        // Saving tensors one by one gives the same checksum as the flat buffer.
        let tensors = try Self.layout.map { entry in try #require(loaded.weights[entry.name]) }
        let other = CheckpointStore(directory: dir.path + "/b")
        try other.save(weights: tensors, state: Self.state(step: 37))
        #expect(other.latestValid()?.state.weightsCRC32 == expectedState.weightsCRC32)
    }

    @Test func interruptedSavesNeverWin() throws {
        let dir = try TestFiles.scratchDirectory("ckpt-crash")
        defer { TestFiles.cleanup(dir) }
        let store = CheckpointStore(directory: dir.path)
        try Self.save(store, step: 10)
        // Killed after the weights, after the state (no manifest yet), and mid-write of a file (temp file left).
        try Self.save(store, step: 20, crashPoint: .afterWeights)
        try Self.save(store, step: 30, crashPoint: .afterState)
        try Data(repeating: 7, count: 1234).write(
            to: dir.appendingPathComponent(AtomicFile.temporaryPrefix + "ckpt-000000000040-ab.safetensors-1-2"))
        #expect(store.latestValid()?.step == 10)
        #expect(latestValidCheckpoint(in: dir.path)?.step == 10)
        #expect(store.validSteps() == [10])
        // The next complete save wins and cleans up what the crashes left.
        try Self.save(store, step: 50)
        try store.prune(keep: 5)
        #expect(store.validSteps() == [50, 10])
        #expect(Self.files(dir).count == 6, "\(Self.files(dir))")
        #expect(!Self.files(dir).contains { $0.hasPrefix(".") || $0.contains("000000000020") || $0.contains("000000000030") })
    }

    struct Damage: Sendable, CustomTestStringConvertible {
        var label: String
        var file: String  // suffix of the newest checkpoint's file to damage
        var damage: @Sendable (inout Data) -> Void
        var reason: String
        var testDescription: String { label }
    }

    static let damages: [Damage] = [
        Damage(label: "weights truncated", file: ".safetensors", damage: { $0 = $0.prefix($0.count / 2) }, reason: "truncated"),
        Damage(label: "weights bit flip", file: ".safetensors", damage: { $0[$0.count - 3] ^= 0x10 }, reason: "CRC-32"),
        Damage(label: "state truncated", file: ".state.json", damage: { $0 = $0.prefix(10) }, reason: "truncated"),
        Damage(label: "state emptied", file: ".state.json", damage: { $0 = Data() }, reason: "truncated"),
        Damage(
            label: "manifest garbage", file: ".manifest.json", damage: { $0 = Data("{\"format\":".utf8) },
            reason: "not valid JSON"),
        Damage(label: "weights deleted", file: ".safetensors", damage: { _ in }, reason: "missing"),
    ]

    @Test(arguments: damages) func damagedNewestFallsBackToThePrevious(_ d: Damage) throws {
        let dir = try TestFiles.scratchDirectory("ckpt-dmg")
        defer { TestFiles.cleanup(dir) }
        let store = CheckpointStore(directory: dir.path)
        try Self.save(store, step: 100)
        try Self.save(store, step: 200)
        let name = try #require(Self.files(dir).first { $0.contains("000000000200") && $0.hasSuffix(d.file) })
        let path = dir.appendingPathComponent(name).path
        if d.label == "weights deleted" {
            try FileManager.default.removeItem(atPath: path)
        } else {
            var data = try #require(FileManager.default.contents(atPath: path))
            d.damage(&data)
            try data.write(to: URL(fileURLWithPath: path))
        }
        var rejected: [RejectedCheckpoint] = []
        let chosen = try #require(store.latestValid(rejected: &rejected))
        #expect(chosen.step == 100)
        #expect(try chosen.weights.flatValues(layout: Self.layout) == Self.weights(step: 100))
        if d.file == ".manifest.json" {
            // An unreadable manifest has no step, so it is tried last: the valid older one is found first.
            #expect(rejected.isEmpty)
        } else {
            #expect(rejected.count == 1)
            #expect(rejected.first?.manifestPath.hasSuffix("ckpt-000000000200.manifest.json") == true)
            #expect(rejected.first?.reason.contains(d.reason) == true, "\(rejected)")
        }
    }

    @Test func keepsTheNewestN() throws {
        let dir = try TestFiles.scratchDirectory("ckpt-keep")
        defer { TestFiles.cleanup(dir) }
        let store = CheckpointStore(directory: dir.path, keep: 2)
        for step in [1, 2, 3, 4, 5] { try Self.save(store, step: step) }
        #expect(store.validSteps() == [5, 4])
        #expect(Self.files(dir).count == 6)
        // Re-saving a step replaces it without leaving the old files behind.
        try Self.save(store, step: 5)
        #expect(store.validSteps() == [5, 4])
        #expect(Self.files(dir).count == 6)
        #expect(throws: CheckpointError.self) { try store.prune(keep: 0) }
    }

    @Test func noCheckpointYet() throws {
        #expect(latestValidCheckpoint(in: "/nonexistent/cohort-checkpoints") == nil)
        let dir = try TestFiles.scratchDirectory("ckpt-empty")
        defer { TestFiles.cleanup(dir) }
        #expect(CheckpointStore(directory: dir.path).latestValid() == nil)
    }
}
