import ArgumentParser
import Foundation
import Transport

/// `cohort bench allreduce --ranks N --transport tcp|ipc [--json]`: N rank processes on this machine; per size
/// the median over batches of the slowest rank's time per all-reduce, algbw = bytes/time and
/// busbw = algbw · 2(N−1)/N (nccl-tests), after warm-up, with a check of the result.
/// `--op broadcast`: `Communicator.broadcast` from rank 0 instead, one copy per repetition; `--op heal`: the state
/// agreement that heals a joiner, for the models of `--workloads`. Both report the median of the slowest rank's copy
/// time and one receiver's bytes over it (`copy_gbytes_per_s`), to put beside the link's rate.
struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce", abstract: "All-reduce latency and bus bandwidth across rank processes.")

    @Option(help: "Rank processes to start.") var ranks: Int = 2
    @Option(
        help:
            "tcp (127.0.0.1), ipc (unix sockets), or shm (ring chunks through shared memory, as ranks on one host of a cluster do by default)."
    )
    var transport: String = "tcp"
    @Option(
        help:
            "allreduce, broadcast (from rank 0, one copy per repetition), or heal (the state agreement that heals a joiner, for each of --workloads)."
    )
    var op: String = "allreduce"
    @Option(help: "heal: the recipes whose weights and optimizer slots are copied.", transform: CommaList.parse)
    var workloads = CommaList<String>(["W1", "W2"])
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
    @Option(
        help:
            "Untimed all-reduces of each size for about this long before the timed batches, so that the links are in the steady state a training job's are in (TCP's window grown)."
    )
    var warmupSeconds: Double = 0.5
    @Flag(help: "Encrypt and authenticate every data-plane socket with CURVE (a fresh cluster key pair), to see its cost.")
    var curve = false
    @OptionGroup var placement: RankPlacement
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard ["tcp", "ipc", "shm"].contains(transport) else {
            throw ValidationError("--transport must be tcp, ipc or shm, got \(transport)")
        }
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1, got \(ranks)") }
        guard ["allreduce", "broadcast", "heal"].contains(op) else {
            throw ValidationError("--op must be allreduce, broadcast or heal, got \(op)")
        }
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1, got \(reps)") }
        guard warmupSeconds >= 0 && warmupSeconds <= 60 else {
            throw ValidationError("--warmup-seconds must be in 0...60, got \(warmupSeconds)")
        }
        if op != "allreduce" && ranks < 2 { throw ValidationError("--op \(op) needs at least 2 ranks") }
    }

    func run() throws {
        let keyFile = try curve ? Self.temporaryKeyFile() : nil
        defer { if let keyFile { try? FileManager.default.removeItem(atPath: keyFile) } }
        let extra = RankLauncher.passthrough([
            ("op", op), ("workloads", workloads.text), ("sizes", sizes.text), ("algorithm", algorithm), ("wire", wire),
            ("chunk-bytes", chunkBytes.map(String.init)),
            ("small-bytes", smallBytes.map(String.init)), ("spin-us", spinUs.map(String.init)),
            ("io-threads", ioThreads.map(String.init)), ("zero-copy-min", zeroCopyMin.map(String.init)),
            ("sockbuf", sockbuf.map(String.init)), ("reps", String(reps)),
            ("warmup-seconds", String(warmupSeconds)),
            ("shared-memory", transport == "shm" ? "true" : "false"), ("key-file", keyFile),
        ])
        if !output.json { printHeader() }
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
            print(row(o))
            flushOutput()
        }
    }

    private func printHeader() {
        guard op == "allreduce" else {
            print("\(op)  ranks=\(ranks) transport=\(transport) (one copy per repetition, from rank 0)")
            print("\(op == "heal" ? "workload  " : "")     bytes     copy_ms  copy_GB/s  check")
            return
        }
        print("allreduce  ranks=\(ranks) transport=\(transport) algorithm=\(algorithm) wire=\(wire)\(curve ? " curve" : "")")
        print("     bytes  latency_us  algbw_GB/s  busbw_GB/s  check")
    }

    /// One table row of a rank's JSON line.
    private func row(_ o: [String: Any]) -> String {
        let num = { (k: String) in (o[k] as? NSNumber)?.doubleValue ?? .nan }
        let check = (o["check"] as? String) ?? "?"
        guard op == "allreduce" else {
            let workload = (o["workload"] as? String).map { $0.padding(toLength: 10, withPad: " ", startingAt: 0) } ?? ""
            return workload
                + String(format: "%10.0f  %10.3f  %9.3f  %@", num("bytes"), num("copy_s") * 1e3, num("copy_gbytes_per_s"), check)
        }
        return String(
            format: "%10.0f  %10.1f  %10.3f  %10.3f  %@", num("bytes"), num("latency_us"), num("algbw_gbps"),
            num("busbw_gbps"), check)
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
