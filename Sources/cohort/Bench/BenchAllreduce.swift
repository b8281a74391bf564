import ArgumentParser
import Foundation
import Transport

/// `cohort bench allreduce --ranks N --transport tcp|ipc [--json]`: N rank processes on this machine; per size
/// the median over batches of the slowest rank's time per all-reduce, algbw = bytes/time and
/// busbw = algbw · 2(N−1)/N (nccl-tests), after warm-up, with a check of the result.
struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce", abstract: "All-reduce latency and bus bandwidth across rank processes.")

    @Option(help: "Rank processes to start.") var ranks: Int = 2
    @Option(
        help:
            "tcp (127.0.0.1), ipc (unix sockets), or shm (ring chunks through shared memory, as ranks on one host of a cluster do by default)."
    )
    var transport: String = "tcp"
    @Option(help: "Comma-separated sizes in bytes.", transform: CommaList.parse)
    var sizes = CommaList<Int>([4096, 65536, 1_048_576, 4_194_304, 16_777_216, 67_108_864])
    @Option(help: "automatic | ring | recursiveDoubling") var algorithm: String = "automatic"
    @Option(help: "Wire precision: float32 | bfloat16 | float16") var wire: String = "float32"
    @Option(help: "Ring chunk size in bytes.") var chunkBytes: Int?
    @Option(help: "Recursive doubling up to this many bytes.") var smallBytes: Int?
    @Option(help: "Receive spin before sleeping, µs.") var spinUs: Int?
    @Option(help: "libzmq I/O threads per rank.") var ioThreads: Int?
    @Option(help: "Zero-copy sends from this frame size on.") var zeroCopyMin: Int?
    @Option(help: "Kernel socket buffer bytes (ZMQ_SNDBUF/RCVBUF).") var sockbuf: Int?
    @Option(help: "Timed batches per size (median reported).") var reps: Int = 11
    @Flag(help: "Encrypt and authenticate every data-plane socket with CURVE (a fresh cluster key pair), to see its cost.")
    var curve = false
    @OptionGroup var placement: RankPlacement
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard ["tcp", "ipc", "shm"].contains(transport) else {
            throw ValidationError("--transport must be tcp, ipc or shm, got \(transport)")
        }
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1, got \(ranks)") }
    }

    func run() throws {
        let keyFile = try curve ? Self.temporaryKeyFile() : nil
        defer { if let keyFile { try? FileManager.default.removeItem(atPath: keyFile) } }
        let extra = RankLauncher.passthrough([
            ("sizes", sizes.text), ("algorithm", algorithm), ("wire", wire), ("chunk-bytes", chunkBytes.map(String.init)),
            ("small-bytes", smallBytes.map(String.init)), ("spin-us", spinUs.map(String.init)),
            ("io-threads", ioThreads.map(String.init)), ("zero-copy-min", zeroCopyMin.map(String.init)),
            ("sockbuf", sockbuf.map(String.init)), ("reps", String(reps)),
            ("shared-memory", transport == "shm" ? "true" : "false"), ("key-file", keyFile),
        ])
        if !output.json {
            print(
                "allreduce  ranks=\(ranks) transport=\(transport) algorithm=\(algorithm) wire=\(wire)\(curve ? " curve" : "")")
            print("     bytes  latency_us  algbw_GB/s  busbw_GB/s  check")
        }
        try RankLauncher.run(
            mode: "allreduce", ranks: ranks, transport: transport, extra: extra, timeout: 600, placement: placement
        ) { line in
            if output.json {
                print(line)
                flushOutput()
                return
            }
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                print(line)
                return
            }
            let num = { (k: String) in (o[k] as? NSNumber)?.doubleValue ?? .nan }
            print(
                String(
                    format: "%10.0f  %10.1f  %10.3f  %10.3f  %@", num("bytes"), num("latency_us"), num("algbw_gbps"),
                    num("busbw_gbps"), (o["check"] as? String) ?? "?"))
            flushOutput()
        }
    }

    /// A fresh CURVE key pair in a 0600 file (the format `cohort keys` writes), for the rank processes.
    static func temporaryKeyFile() throws -> String {
        let pair = try CurveKeyPair.generate()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cohort-bench-\(getpid()).keys").path
        let text = "curve_public_key: \"\(pair.publicKey)\"\ncurve_secret_key: \"\(pair.secretKey)\"\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw ValidationError("cannot write a key file in \(FileManager.default.temporaryDirectory.path)")
        }
        return path
    }
}
