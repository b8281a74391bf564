import ArgumentParser
import Foundation

/// `cohort bench p2p --transport tcp|ipc [--json]`: one-way throughput between two rank processes through the
/// same communicator the collectives use (header + zero-copy payload frames), measured like the raw libzmq
/// anchor (`run.sh zmq`): median over batches at the receiver.
struct BenchP2P: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "p2p", abstract: "One-way point-to-point throughput.")

    @Option(help: "tcp (127.0.0.1) or ipc (unix sockets).") var transport: String = "tcp"
    @Option(help: "Comma-separated message sizes in bytes.", transform: CommaList.parse)
    var sizes = CommaList<Int>([65536, 1_048_576, 16_777_216])
    @Option(help: "Timed batches per size (median reported).") var reps: Int = 11
    @Option(help: "Kernel socket buffer bytes (ZMQ_SNDBUF/RCVBUF).") var sockbuf: Int?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard ["tcp", "ipc"].contains(transport) else {
            throw ValidationError("--transport must be tcp or ipc, got \(transport)")
        }
    }

    func run() throws {
        let extra = RankLauncher.passthrough([
            ("sizes", sizes.text), ("reps", String(reps)), ("sockbuf", sockbuf.map(String.init)),
        ])
        if !output.json {
            print("p2p  transport=\(transport)")
            print("     bytes  msgs/batch  GB/s_median  GB/s_min  GB/s_max  check")
        }
        try RankLauncher.run(mode: "p2p", ranks: 2, transport: transport, extra: extra, timeout: 600) { line in
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
                    format: "%10.0f  %10.0f  %11.3f  %8.3f  %8.3f  %@", num("bytes"), num("msgs_per_batch"), num("gbps"),
                    num("gbps_min"), num("gbps_max"), (o["check"] as? String) ?? "?"))
            flushOutput()
        }
    }
}
