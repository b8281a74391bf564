import CZlib
import Config
import Datasets
import Foundation
import NN
import Training
import Transport

/// One decoder of outside input, driven with arbitrary bytes. Every thrown error is a correct answer; only a trap,
/// an out-of-bounds access or a sanitizer report is a finding.
struct FuzzTarget: Sendable {
    var name: String
    var summary: String
    var run: @Sendable (UnsafeRawBufferPointer) -> Void

    static let all: [FuzzTarget] = [wireHeader, controlMessage, config, idx, safetensors]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// `WireHeader.decode` with the receivers' limits: any length, a small one, and a negative one.
    static let wireHeader = FuzzTarget(
        name: "wire-header", summary: "WireHeader.decode (data-plane frame headers)",
        run: { bytes in
            for limit in [WireHeader.maxLength, 1 << 20, 0, -1] {
                guard let header = try? WireHeader.decode(bytes, maxLength: limit) else { continue }
                // What decodes must encode back to the same 32 bytes, less the sequence's untransmitted half.
                let again = try? WireHeader.decode(header.bytes, maxLength: limit)
                guard again == header else { fatalError("wire header does not round-trip: \(header)") }
            }
            _ = try? WireHeader.decode(Array(bytes), maxLength: WireHeader.maxLength)
        })

    /// `ControlMessage.decode`, and what decodes must encode and decode again.
    static let controlMessage = FuzzTarget(
        name: "control-message", summary: "ControlMessage.decode (coordinator/worker JSON messages)",
        run: { bytes in
            guard let message = try? ControlMessage.decode(bytes, from: "fuzz") else { return }
            let encoded = message.encoded()
            let decodedAgain = encoded.withUnsafeBytes { try? ControlMessage.decode($0, from: "fuzz") }
            guard decodedAgain != nil else {
                let text = String(decoding: encoded, as: UTF8.self)
                fatalError("a decoded control message does not decode after encoding: \(text)")
            }
        })

    /// `ClusterConfig.parse` (what `load(path:)` calls after reading the file), then what `validate` shows.
    static let config = FuzzTarget(
        name: "config", summary: "ClusterConfig.parse/load (cluster.yaml: YAML limits, strict decoding, validation)",
        run: { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            guard let config = try? ClusterConfig.parse(text, file: "fuzz.yaml") else { return }
            _ = config.plannedRanks()
            _ = config.rankLayout
            _ = try? config.yaml()
        })

    /// `IDX.read` on the bytes as a file (plain, or gzip when they are a gzip stream), and on the bytes gzipped.
    static let idx = FuzzTarget(
        name: "idx", summary: "IDX.read (MNIST/Fashion-MNIST files, plain and gzip)",
        run: { bytes in
            let path = scratchFile("idx")
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return }
            _ = try? IDX.read(path)
            _ = try? IDX.read(path, expectedRank: 3)
            let isGzip = bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
            if !isGzip, (try? IDX.writeAllBytes(Array(bytes), to: path, compressed: true)) != nil {
                _ = try? IDX.read(path)
            }
        })

    /// `SafeTensors.decode`, then the flat view a checkpoint load takes of what it decoded.
    static let safetensors = FuzzTarget(
        name: "safetensors", summary: "SafeTensors.decode (checkpoints and model files)",
        run: { bytes in
            guard let file = try? SafeTensors.decode(Data(bytes), file: "fuzz.safetensors") else { return }
            let layout = file.tensors.map { TensorLayout(name: $0.name, shape: $0.shape) }
            _ = try? file.flatValues(layout: layout, file: "fuzz.safetensors")
        })

    /// A per-process file for the targets whose reader takes a path.
    static func scratchFile(_ name: String) -> String {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        return "\(directory)/cohort-fuzz-\(getpid())-\(name)"
    }
}
