import Foundation
import NN

/// A checkpoint read back and verified: weights, state, and where they came from.
public struct Checkpoint: Equatable, Sendable {
    public var weights: SafeTensorsFile
    public var state: CheckpointState
    public var manifestPath: String
    public var weightsPath: String
    public var statePath: String
    public var step: Int { state.step }
    public var epoch: Int { state.epoch }
}

/// A checkpoint on disk that is not used, and why (for the log: "ignoring ckpt-…: weights file truncated").
public struct RejectedCheckpoint: Equatable, Sendable, CustomStringConvertible {
    public var manifestPath: String
    public var reason: String
    public var description: String { "\(manifestPath): \(reason)" }
}

/// Where a save stops when a test simulates a crash (the files written so far stay, as after a real kill).
public enum CheckpointCrashPoint: Sendable {
    case afterWeights
    case afterState
}

/// Checkpoints in one directory: `ckpt-<step>-<token>.safetensors` (weights), `ckpt-<step>-<token>.state.json`
/// and `ckpt-<step>.manifest.json`, written in that order, each atomically. One writer per directory (in data
/// parallelism every replica holds the same weights, so rank 0 saves).
public struct CheckpointStore: Sendable {
    public let directory: String
    /// Checkpoints to keep after each save (nil: keep all).
    public var keep: Int?

    public init(directory: String, keep: Int? = nil) {
        self.directory = directory
        self.keep = keep
    }

    static let manifestSuffix = ".manifest.json"

    static func stepText(_ step: Int) -> String {
        let digits = String(step)
        return String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    // MARK: saving

    /// Saves tensors given one by one. Returns the manifest path.
    @discardableResult
    public func save(
        weights: [SafeTensor], state: CheckpointState, metadata: [String: String] = [:],
        crashPoint: CheckpointCrashPoint? = nil
    ) throws(CheckpointError) -> String {
        let encoded: Data
        do { encoded = try SafeTensors.encode(weights, metadata: metadata) } catch {
            throw CheckpointError(path: directory, message: "cannot encode the weights: \(error.message)")
        }
        var crc = CRC32()
        for tensor in weights { tensor.values.withUnsafeBufferPointer { crc.update(UnsafeRawBufferPointer($0)) } }
        return try save(encodedWeights: encoded, weightsCRC32: crc.value, state: state, crashPoint: crashPoint)
    }

    /// Saves a model's flat parameter buffer under the names and shapes of `layout`. Returns the manifest path.
    @discardableResult
    public func save(
        layout: [TensorLayout], flat: UnsafeBufferPointer<Float>, state: CheckpointState,
        metadata: [String: String] = [:], crashPoint: CheckpointCrashPoint? = nil
    ) throws(CheckpointError) -> String {
        let encoded: Data
        do { encoded = try SafeTensors.encode(layout: layout, flat: flat, metadata: metadata) } catch {
            throw CheckpointError(path: directory, message: "cannot encode the weights: \(error.message)")
        }
        return try save(encodedWeights: encoded, weightsCRC32: CRC32.checksum(floats: flat), state: state, crashPoint: crashPoint)
    }

    private func save(
        encodedWeights: Data, weightsCRC32: UInt32, state: CheckpointState,
        crashPoint: CheckpointCrashPoint?
    ) throws(CheckpointError) -> String {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(path: directory, message: "cannot create the checkpoint directory")
        }
        var state = state
        state.weightsCRC32 = weightsCRC32
        let stateData: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            stateData = try encoder.encode(state)
        } catch {
            throw CheckpointError(path: directory, message: "cannot encode the state: \(error)")
        }
        // A fresh token per save: re-saving a step never overwrites the files the current manifest names.
        let base = "ckpt-\(Self.stepText(state.step))-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        let weights = CheckpointManifest.FileEntry(
            name: base + ".safetensors", bytes: encodedWeights.count,
            crc32: CRC32.checksum(encodedWeights))
        let stateEntry = CheckpointManifest.FileEntry(
            name: base + ".state.json", bytes: stateData.count,
            crc32: CRC32.checksum(stateData))
        // A save that fails part-way (a full disk, a read-only folder) takes back the files it wrote: the previous
        // checkpoint stays the newest, and nothing unreferenced is left behind.
        var written: [String] = []
        do throws(CheckpointError) {
            try AtomicFile.write(encodedWeights, to: path(weights.name))
            written.append(path(weights.name))
            if crashPoint == .afterWeights { return "" }
            try AtomicFile.write(stateData, to: path(stateEntry.name))
            written.append(path(stateEntry.name))
            if crashPoint == .afterState { return "" }
        } catch {
            for file in written { unlink(file) }
            throw error
        }
        let manifest = CheckpointManifest(
            step: state.step, epoch: state.epoch, weights: weights, state: stateEntry,
            weightsCRC32: weightsCRC32, createdAt: ISO8601DateFormatter().string(from: Date()))
        let manifestPath = path("ckpt-\(Self.stepText(state.step))" + Self.manifestSuffix)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(manifest), to: manifestPath)
        } catch {
            for file in written { unlink(file) }
            if let error = error as? CheckpointError { throw error }
            throw CheckpointError(path: manifestPath, message: "cannot encode the manifest: \(error)")
        }
        if let keep { try prune(keep: keep) }
        return manifestPath
    }

    // MARK: reading

    /// Manifest paths with their steps, newest first (manifests that don't even parse are listed with step -1).
    func manifests() -> [(path: String, manifest: CheckpointManifest?)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let found = names.filter { $0.hasPrefix("ckpt-") && $0.hasSuffix(Self.manifestSuffix) }.map { name in
            let path = self.path(name)
            let manifest = (try? Data(contentsOf: URL(fileURLWithPath: path)))
                .flatMap { try? JSONDecoder().decode(CheckpointManifest.self, from: $0) }
            return (path: path, manifest: manifest)
        }
        return found.sorted { ($0.manifest?.step ?? -1, $0.path) > ($1.manifest?.step ?? -1, $1.path) }
    }

    /// Reads and verifies the checkpoint a manifest names; any mismatch is an error saying what is wrong.
    public func load(manifestPath: String) throws(CheckpointError) -> Checkpoint {
        func fail(_ message: String) -> CheckpointError { CheckpointError(path: manifestPath, message: message) }
        guard let manifestData = FileManager.default.contents(atPath: manifestPath) else {
            throw fail("cannot read the manifest")
        }
        let manifest: CheckpointManifest
        do { manifest = try JSONDecoder().decode(CheckpointManifest.self, from: manifestData) } catch {
            throw fail("the manifest is not valid JSON of a checkpoint")
        }
        guard manifest.format == CheckpointManifest.currentFormat, manifest.version == CheckpointManifest.currentVersion else {
            throw fail("unsupported checkpoint format \(manifest.format) version \(manifest.version)")
        }
        func verifiedFile(_ entry: CheckpointManifest.FileEntry) throws(CheckpointError) -> (path: String, data: Data) {
            guard !entry.name.contains("/"), !entry.name.hasPrefix(".") else {
                throw fail("file name \"\(entry.name)\" is not a plain name")
            }
            let filePath = path(entry.name)
            guard let data = FileManager.default.contents(atPath: filePath) else { throw fail("\(entry.name) is missing") }
            guard data.count == entry.bytes else {
                throw fail("\(entry.name) has \(data.count) bytes, the manifest says \(entry.bytes) (truncated?)")
            }
            guard CRC32.checksum(data) == entry.crc32 else { throw fail("\(entry.name) does not match its CRC-32 (corrupted)") }
            return (filePath, data)
        }
        let weightsFile = try verifiedFile(manifest.weights)
        let stateFile = try verifiedFile(manifest.state)
        let weights: SafeTensorsFile
        do { weights = try SafeTensors.decode(weightsFile.data, file: weightsFile.path) } catch { throw fail(error.description) }
        let state: CheckpointState
        do { state = try JSONDecoder().decode(CheckpointState.self, from: stateFile.data) } catch {
            throw fail("\(manifest.state.name) is not a valid checkpoint state")
        }
        guard state.step == manifest.step, state.epoch == manifest.epoch else {
            throw fail("\(manifest.state.name) is for step \(state.step), the manifest for step \(manifest.step)")
        }
        var crc = CRC32()
        for tensor in weights.tensors { tensor.values.withUnsafeBufferPointer { crc.update(UnsafeRawBufferPointer($0)) } }
        guard crc.value == manifest.weightsCRC32, crc.value == state.weightsCRC32 else {
            throw fail("the weights' checksum \(crc.value) does not match the recorded \(manifest.weightsCRC32)")
        }
        return Checkpoint(
            weights: weights, state: state, manifestPath: manifestPath,
            weightsPath: weightsFile.path, statePath: stateFile.path)
    }

    /// The newest checkpoint that verifies completely, skipping damaged or incomplete ones; nil when there is none
    /// (including when the directory does not exist). `rejected` collects what was skipped and why.
    public func latestValid(rejected: inout [RejectedCheckpoint]) -> Checkpoint? {
        for entry in manifests() {
            do { return try load(manifestPath: entry.path) } catch {
                rejected.append(RejectedCheckpoint(manifestPath: entry.path, reason: error.message))
            }
        }
        return nil
    }

    /// The checkpoint of `step`, if one verifies (`rejected` collects the damaged ones of that step).
    public func valid(step: Int, rejected: inout [RejectedCheckpoint]) -> Checkpoint? {
        for entry in manifests() where entry.manifest?.step == step {
            do { return try load(manifestPath: entry.path) } catch {
                rejected.append(RejectedCheckpoint(manifestPath: entry.path, reason: error.message))
            }
        }
        return nil
    }

    public func latestValid() -> Checkpoint? {
        var ignored: [RejectedCheckpoint] = []
        return latestValid(rejected: &ignored)
    }

    /// Steps of all checkpoints that verify, newest first.
    public func validSteps() -> [Int] {
        manifests().compactMap { try? load(manifestPath: $0.path).step }
    }

    // MARK: pruning

    /// Keeps the `keep` newest valid checkpoints and deletes everything older, plus files no manifest names and
    /// temporary files a killed writer left. Manifests go first, so a checkpoint being deleted is never valid-looking
    /// with files missing. Damaged checkpoints newer than the kept ones are left alone (never picked, kept for a look).
    public func prune(keep: Int) throws(CheckpointError) {
        guard keep >= 1 else { throw CheckpointError(path: directory, message: "keep must be at least 1, got \(keep)") }
        let all = manifests()
        var validSeen = 0
        var kept: [CheckpointManifest] = []
        var doomed: [String] = []
        for entry in all {
            if validSeen >= keep {
                doomed.append(entry.path)
                continue
            }
            if (try? load(manifestPath: entry.path)) != nil {
                validSeen += 1
            }
            if let manifest = entry.manifest { kept.append(manifest) }
        }
        for manifest in doomed { unlink(manifest) }
        let referenced = Set(kept.flatMap { [$0.weights.name, $0.state.name] })
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names {
            let isData = name.hasPrefix("ckpt-") && (name.hasSuffix(".safetensors") || name.hasSuffix(".state.json"))
            let isLeftover = name.hasPrefix(AtomicFile.temporaryPrefix + "ckpt-")
            if (isData && !referenced.contains(name)) || isLeftover { unlink(path(name)) }
        }
        try AtomicFile.syncDirectory(directory)
    }
}

/// The newest valid checkpoint in `directory`, or nil (see `CheckpointStore.latestValid`).
public func latestValidCheckpoint(in directory: String) -> Checkpoint? {
    CheckpointStore(directory: directory).latestValid()
}
