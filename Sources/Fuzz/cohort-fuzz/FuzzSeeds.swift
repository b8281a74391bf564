import Config
import Datasets
import Foundation
import NN
import Training
import Transport

/// The generated part of the seed corpus (Tests/FuzzCorpus): valid inputs of each decoder and a few broken ones.
/// `cohort-fuzz seed DIR` writes them; crashing inputs found later are added to the corpus by hand.
enum FuzzSeeds {
    static func write(to root: String) throws {
        for (target, seeds) in [
            ("wire-header", wireHeaders()), ("control-message", controlMessages()), ("config", configs()),
            ("idx", try idxFiles()), ("safetensors", try safetensorsFiles()),
        ] {
            let directory = "\(root)/\(target)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (name, bytes) in seeds {
                try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
            }
        }
    }

    static func wireHeaders() -> [(String, [UInt8])] {
        let reduce = WireHeader(
            kind: .reduce, dtype: .float32, group: 0, epoch: 0, sender: 1, sequence: 7, chunk: 2, length: 4096)
        let link = WireHeader(kind: .link, dtype: .bytes, group: 3, epoch: 1, sender: 0, sequence: 0, chunk: 0, length: 17)
        let half = WireHeader(
            kind: .broadcast, dtype: .bfloat16, group: 1, epoch: 2, sender: 5, sequence: 1 << 40, chunk: 9, length: 2)
        var badKind = reduce.bytes
        badKind[6] = 99
        var oddLength = half.bytes
        oddLength[28] = 3
        return [
            ("reduce-f32", reduce.bytes), ("link-bytes", link.bytes), ("broadcast-bf16", half.bytes),
            ("bad-kind", badKind), ("odd-length", oddLength), ("short", Array(reduce.bytes.prefix(31))),
            ("max-length", reduce.bytes.prefix(28) + [0xFC, 0xFF, 0xFF, 0xFF]),
        ]
    }

    static func controlMessages() -> [(String, [UInt8])] {
        let registration = Registration(
            host: "node1", pid: 4242, cores: 8, protocolVersion: ControlMessage.protocolVersion,
            dataEndpoint: "tcp://10.0.0.2:5600", localIndex: 0)
        let messages: [(String, ControlMessage)] = [
            ("register", .register(registration)), ("heartbeat", .heartbeat(rank: 3)),
            ("checkpointed", .checkpointed(rank: 0, step: 100, path: "runs/x/step-100")),
            ("failed", .failed(rank: 1, message: "loss is NaN")), ("stop", .stop(reason: "coordinator stopping")),
            ("ready", .ready(pid: 4242)),
        ]
        var seeds = messages.map { ($0.0, $0.1.encoded()) }
        seeds.append(("truncated", Array(messages[0].1.encoded().dropLast(5))))
        seeds.append(("nan-progress", Array(#"{"heartbeat":{"rank":"nan"}}"#.utf8)))
        return seeds
    }

    static func configs() -> [(String, [UInt8])] {
        let minimal = """
            cluster:
              coordinator: {host: 127.0.0.1, port: 5555}
              data_ports: 5600-5663
            hosts:
              - {address: 127.0.0.1, workers: 2}
            job: {workload: W1, epochs: 1}
            parallelism: {data_parallel: 2, pipeline_stages: 1}

            """
        let pipeline = """
            cluster:
              coordinator: {host: 10.0.0.1, port: 5555}
              data_ports: 5600
              interface: "*"
            hosts:
              - address: 10.0.0.1
                workers: 2
              - address: 10.0.0.2
                workers: 2
                ssh_user: cohort
            parallelism: {pipeline_stages: 2, micro_batches: 4, schedule: 1f1b}
            timeouts: {heartbeat_interval_s: 0.5, peer_deadline_s: 5}

            """
        return [
            ("minimal.yaml", Array(minimal.utf8)), ("pipeline.yaml", Array(pipeline.utf8)),
            ("overflow.yaml", edit(minimal, "data_parallel: 2", "data_parallel: 4611686018427387904")),
            ("nan.yaml", edit(minimal, "epochs: 1", "epochs: .nan")),
            ("nested.yaml", Array(("hosts: " + String(repeating: "[", count: 80)).utf8)),
            ("unknown-key.yaml", Array((minimal + "extra: 1\n").utf8)),
        ]
    }

    static func edit(_ text: String, _ old: String, _ new: String) -> [UInt8] {
        Array(text.replacingOccurrences(of: old, with: new).utf8)
    }

    static func idxFiles() throws -> [(String, [UInt8])] {
        let images = IDXArray(dimensions: [2, 4, 4], bytes: (0..<32).map { UInt8($0 * 7 & 0xFF) })
        let labels = IDXArray(dimensions: [5], bytes: [0, 1, 2, 3, 9])
        var seeds: [(String, [UInt8])] = []
        let path = NSTemporaryDirectory() + "cohort-fuzz-seed-\(getpid()).idx"
        defer { try? FileManager.default.removeItem(atPath: path) }
        for (name, array) in [("images", images), ("labels", labels)] {
            for compressed in [false, true] {
                try IDX.write(array, to: path, compressed: compressed)
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
                seeds.append(("\(name)\(compressed ? ".gz" : "")", bytes))
                if compressed { seeds.append(("\(name)-truncated.gz", Array(bytes.dropLast(6)))) }
            }
        }
        seeds.append(("huge-dimensions", [0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2]))
        seeds.append(("trailing-bytes", [0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3]))
        return seeds
    }

    static func safetensorsFiles() throws -> [(String, [UInt8])] {
        let weights = SafeTensor(name: "layer0.weight", shape: [2, 3], values: [1, -2, 3.5, 0, .infinity, -0.25])
        let bias = SafeTensor(name: "layer0.bias", shape: [2], values: [0.5, -0.5])
        let scalar = SafeTensor(name: "step", shape: [], values: [42])
        let model = [UInt8](try SafeTensors.encode([weights, bias], metadata: ["format": "pt", "step": "10"]))
        let one = [UInt8](try SafeTensors.encode([scalar]))
        var hugeHeader = model
        hugeHeader[7] = 0x7F
        let overlapping =
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        var overlap = withUnsafeBytes(of: UInt64(overlapping.utf8.count).littleEndian) { [UInt8]($0) }
        overlap += Array(overlapping.utf8) + [UInt8](repeating: 0, count: 8)
        return [
            ("model", model), ("scalar", one), ("truncated", Array(model.dropLast(3))), ("huge-header", hugeHeader),
            ("overlapping", overlap),
        ]
    }
}
