import ArgumentParser
import Collectives
import Foundation
import Runtime
import Transport

/// Hidden: one rank process of `bench allreduce` / `bench p2p` and of the multi-process tests. It binds its data
/// plane, registers at the parent's rendezvous endpoint, runs the requested mode and prints JSON lines (rank 0).
struct BenchRank: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rank", abstract: "Internal: one rank process of the collective benchmarks and tests.", shouldDisplay: false)

    @Option var mode: String = "allreduce"  // allreduce | p2p | check | links | die | silent
    /// allreduce mode: which collective is timed (allreduce | broadcast | heal).
    @Option var op: String = "allreduce"
    /// heal op: the recipes whose model state is copied.
    @Option(transform: CommaList.parse) var workloads = CommaList<String>(["W1", "W2"])
    @Option var rank: Int
    @Option var ranks: Int
    @Option var rendezvous: String
    @Option var bind: String = "tcp://127.0.0.1:0"
    @Option var transport: String = "tcp"
    /// Ring neighbours on this host pair up over shared memory (the library default); the benchmark's tcp and
    /// ipc transports turn it off so that they measure the sockets.
    @Option var sharedMemory: Bool = true
    @Option(transform: CommaList.parse) var sizes = CommaList<Int>([4096, 65536, 1_048_576, 4_194_304, 16_777_216, 67_108_864])
    @Option var timeout: Double = 30
    @Option var chunkBytes: Int?
    @Option var smallBytes: Int?
    @Option var spinUs: Int?
    @Option var ioThreads: Int?
    @Option var zeroCopyMin: Int?
    @Option var sockbuf: Int32?
    @Option var algorithm: String = "automatic"
    @Option var wire: String = "float32"
    @Option var reps: Int = 11
    @Option var batchSeconds: Double = 0.05
    @Option var warmupSeconds: Double = 0.5
    /// die mode: how many all-reduces to finish before exiting abruptly (mid-run for the peers).
    @Option var dieAfter: Int = 3
    /// A CURVE key file (`cohort keys`): the data plane encrypts and admits only holders of the pair.
    @Option var keyFile: String?
    /// Pretend hosts of this many consecutive ranks each (for hierarchical all-reduce on one machine).
    @Option var ranksPerHost: Int?

    func run() throws {
        var o = CommunicatorOptions()
        o.timeout = timeout
        o.sharedMemory = sharedMemory
        if let v = chunkBytes { o.chunkBytes = v }
        if let v = smallBytes { o.smallAllReduceBytes = v }
        if let v = spinUs { o.spinMicroseconds = v } else { o.adaptSpin(ranksOnHost: ranks) }
        if let v = ioThreads { o.ioThreads = v }
        if let v = zeroCopyMin { o.zeroCopyMinBytes = v }
        if let v = sockbuf { o.kernelBufferBytes = v }
        if let keyFile { o.curve = try loadCurveSecurity(keyFile: keyFile) }
        let plane = try DataPlane(bind: bind, options: o)
        let table = try Rendezvous.join(
            server: rendezvous, rank: rank, endpoint: plane.endpoint, context: plane.context,
            deadline: .after(seconds: timeout))
        let comm = try Communicator(plane: plane, rank: rank, peers: table)
        if let ranksPerHost {
            guard ranksPerHost >= 1 else { throw ValidationError("--ranks-per-host must be at least 1") }
            comm.hosts = .blocks(size: ranks, ranksPerHost: ranksPerHost)
        }
        guard let algo = AllReduceAlgorithm(rawValue: algorithm) else {
            throw ValidationError("unknown --algorithm \(algorithm)")
        }
        guard let wirePrecision = WirePrecision(rawValue: wire) else { throw ValidationError("unknown --wire \(wire)") }
        let sizeList = sizes.items
        do {
            switch mode {
            case "allreduce" where op == "broadcast": try broadcastBench(comm, sizeList)
            case "allreduce" where op == "heal": try healBench(comm, workloads.items)
            case "allreduce": try allReduceBench(comm, sizeList, algo, wirePrecision)
            case "p2p": try p2pBench(comm, sizeList)
            case "check": try check(comm)
            case "links": try links(comm)
            case "die": try die(comm)
            case "silent": Thread.sleep(forTimeInterval: timeout * 3)  // registers, then never answers
            default: throw ValidationError("unknown --mode \(mode)")
            }
        } catch let e as CollectiveError {
            FileHandle.standardError.write(Data("cohort: \(e)\n".utf8))
            throw ExitCode(3)
        }
    }

    func allReduceBench(_ c: Communicator, _ sizes: [Int], _ algo: AllReduceAlgorithm, _ wire: WirePrecision) throws {
        let maxCount = (sizes.max() ?? 0) / 4
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, maxCount))
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0)
        var one = [Float](repeating: 0, count: 1)
        for bytes in sizes {
            let count = bytes / 4
            let b = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
            b.update(repeating: 0)
            for _ in 0..<3 { try c.allReduce(b, algorithm: algo) }
            // Iterations per batch: rank 0's probe decides, so every rank runs the same number.
            try c.barrier()
            var t0 = Deadline.nowNanoseconds()
            for _ in 0..<3 { try c.allReduce(b, wire: wire, algorithm: algo) }
            one[0] = Float(Double(Deadline.nowNanoseconds() - t0) / 3e9)
            try one.withUnsafeMutableBufferPointer { try c.broadcast($0, root: 0) }
            let k = max(1, min(20_000, Int(batchSeconds / Double(max(one[0], 1e-7)))))
            let warmup = max(0, min(100_000, Int(warmupSeconds / Double(max(one[0], 1e-7)))))
            for _ in 0..<warmup { try c.allReduce(b, wire: wire, algorithm: algo) }
            var batches: [Double] = []
            for _ in 0..<reps {
                try c.barrier()
                t0 = Deadline.nowNanoseconds()
                for _ in 0..<k { try c.allReduce(b, wire: wire, algorithm: algo) }
                let t = Double(Deadline.nowNanoseconds() - t0) / 1e9 / Double(k)
                // A batch takes as long as its slowest rank.
                let all = try c.allGather([Float(t)])
                batches.append(Double(all.max()!))
            }
            // Correctness: every element must be 1 + 2 + … + N on every rank.
            b.update(repeating: Float(c.rank + 1))
            try c.allReduce(b, wire: wire, algorithm: algo)
            let expect = Float(c.size * (c.size + 1) / 2)
            var ok: Float = b.allSatisfy { $0 == expect } ? 1 : 0
            var okAll = [ok]
            try okAll.withUnsafeMutableBufferPointer { try c.allReduce($0) }
            ok = okAll[0] == Float(c.size) ? 1 : 0
            b.update(repeating: 0)
            if c.rank == 0 {
                batches.sort()
                let med = batches[batches.count / 2]
                let algbw = Double(bytes) / med / 1e9
                let busbw = algbw * 2 * Double(c.size - 1) / Double(c.size)
                print(
                    BenchLine([
                        ("bench", .string("allreduce")), ("ranks", .int(c.size)), ("transport", .string(transport)),
                        ("bytes", .int(bytes)), ("latency_us", .fixed(med * 1e6, digits: 1)),
                        ("algbw_gbps", .fixed(algbw, digits: 5)), ("busbw_gbps", .fixed(busbw, digits: 5)),
                        ("iters", .int(k)), ("reps", .int(reps)), ("algorithm", .string(algo.rawValue)),
                        ("wire", .string(wire.rawValue)), ("check", .string(ok == 1 ? "ok" : "FAIL")),
                    ]).text)
                flushOutput()
            }
        }
    }

    /// One-way throughput rank 1 → rank 0 (rank 0 reports), the same way the raw libzmq anchor measures it: the sender streams
    /// zero-copy frames from one buffer, the receiver timestamps each batch. Here every frame also carries the
    /// wire header and is checked against it.
    func p2pBench(_ c: Communicator, _ sizes: [Int]) throws {
        guard c.size == 2 else { throw ValidationError("p2p needs exactly 2 ranks") }
        for bytes in sizes {
            let perBatch = max(8, min(2048, (128 << 20) / bytes))
            let total = perBatch * (reps + 1)
            let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 4096)
            defer { raw.deallocate() }
            raw.initializeMemory(as: UInt8.self, repeating: 0x5a)
            try c.barrier()
            if c.rank == 1 {
                let release = ZeroCopyRelease()
                for _ in 0..<total { try c.send(UnsafeRawBufferPointer(raw), to: 0, release: release) }
                _ = release.waitUntilReleased(deadline: .after(seconds: timeout))
            } else {
                var bad = 0
                for _ in 0..<perBatch {
                    let m = try c.receiveMessage(from: 1, expectedBytes: bytes)
                    if m.withBytes({ $0[bytes - 1] }) != 0x5a { bad += 1 }
                }
                var rates: [Double] = []
                var t0 = Deadline.nowNanoseconds()
                for _ in 0..<reps {
                    for _ in 0..<perBatch {
                        let m = try c.receiveMessage(from: 1, expectedBytes: bytes)
                        if m.withBytes({ $0[bytes - 1] }) != 0x5a { bad += 1 }
                    }
                    let t1 = Deadline.nowNanoseconds()
                    rates.append(Double(perBatch * bytes) / (Double(t1 - t0) / 1e9) / 1e9)
                    t0 = t1
                }
                rates.sort()
                print(
                    BenchLine([
                        ("bench", .string("p2p")), ("transport", .string(transport)), ("bytes", .int(bytes)),
                        ("msgs_per_batch", .int(perBatch)), ("gbps", .fixed(rates[rates.count / 2], digits: 3)),
                        ("gbps_min", .fixed(rates.first!, digits: 3)), ("gbps_max", .fixed(rates.last!, digits: 3)),
                        ("check", .string(bad == 0 ? "ok" : "FAIL")),
                    ]).text)
                flushOutput()
            }
            try c.barrier()
        }
    }

    /// Multi-process correctness: every collective over element counts around the group size, checked here
    /// against directly computed results; exits non-zero on the first mismatch.
    func check(_ c: Communicator) throws {
        let n = c.size
        let value = { (r: Int, i: Int) -> Float in Float((i &* 7 &+ r &* 13) % 61) - 30 }
        var counts = Array(Set([0, 1, max(0, n - 1), n, n + 1, 1000])).sorted()
        if n <= 3 { counts.append(1_000_003) }
        for count in counts {
            let sum = (0..<count).map { i in (0..<n).reduce(Float(0)) { $0 + value($1, i) } }
            let algorithms: [AllReduceAlgorithm] = [.ring, .recursiveDoubling] + (c.hosts.isHierarchical ? [.hierarchical] : [])
            for algo in algorithms where !(algo == .recursiveDoubling && count > 100_000) {
                var v = (0..<count).map { value(c.rank, $0) }
                try c.allReduce(&v, algorithm: algo)
                guard v == sum else { throw ValidationError("rank \(c.rank): allreduce \(algo) count \(count) wrong") }
            }
            var b = c.rank == n - 1 ? (0..<count).map { value(99, $0) } : [Float](repeating: 0, count: count)
            try b.withUnsafeMutableBufferPointer { try c.broadcast($0, root: n - 1) }
            guard b == (0..<count).map({ value(99, $0) }) else {
                throw ValidationError("rank \(c.rank): broadcast count \(count) wrong")
            }
            let g = try c.allGather((0..<count).map { value(c.rank, $0) })
            guard g == (0..<n).flatMap({ r in (0..<count).map { value(r, $0) } }) else {
                throw ValidationError("rank \(c.rank): allgather count \(count) wrong")
            }
            var rs = (0..<count).map { value(c.rank, $0) }
            let mine = try rs.withUnsafeMutableBufferPointer { try c.reduceScatter($0) }
            guard Array(rs[mine]) == Array(sum[mine]) else {
                throw ValidationError("rank \(c.rank): reducescatter count \(count) wrong")
            }
            try c.barrier()
        }
        // Bitwise agreement of a non-exact average: everyone's result must equal rank 0's.
        var avg = (0..<10_000).map { Float(($0 * 31 + c.rank * 17) % 101) * 0.37 }
        try c.allReduce(&avg, op: .average)
        var first = avg
        try first.withUnsafeMutableBufferPointer { try c.broadcast($0, root: 0) }
        guard first == avg else { throw ValidationError("rank \(c.rank): average differs bitwise from rank 0") }
        if c.rank == 0 { print(BenchLine([("check", .string("ok")), ("ranks", .int(n))]).text) }
    }

    /// One ring all-reduce, checked, then which transport each ring link took: what a test of the shared-memory
    /// handshake between hosts looks at.
    func links(_ c: Communicator) throws {
        let count = 1 << 16
        var v = (0..<count).map { Float(($0 + c.rank) % 7) }
        try c.allReduce(&v, algorithm: .ring)
        let expected = (0..<count).map { i in (0..<c.size).reduce(Float(0)) { $0 + Float((i + $1) % 7) } }
        guard v == expected else { throw ValidationError("rank \(c.rank): allreduce wrong") }
        let (inbound, outbound) = c.sharedMemoryLinks
        print(
            BenchLine([
                ("rank", .int(c.rank)), ("inbound", .string(inbound ? "shm" : "socket")),
                ("outbound", .string(outbound ? "shm" : "socket")),
            ]).text)
        flushOutput()
    }

    /// Runs all-reduces; the last rank exits abruptly after `dieAfter` of them, mid-run for everyone else.
    func die(_ c: Communicator) throws {
        var v = [Float](repeating: 1, count: 1 << 20)
        var i = 0
        while true {
            if c.rank == c.size - 1 && i == dieAfter { Foundation.exit(9) }
            try c.allReduce(&v)
            i += 1
        }
    }
}

func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

/// Starts N rank processes of this same binary (`cohort bench rank …`) on this machine, acts as their
/// rendezvous server, and streams rank 0's JSON lines back to the caller.
enum RankLauncher {
    static func executable() -> URL {
        let proc = URL(fileURLWithPath: "/proc/self/exe")
        if FileManager.default.fileExists(atPath: proc.path) { return proc.resolvingSymlinksInPath() }
        return URL(fileURLWithPath: CommandLine.arguments[0])
    }

    static func bindEndpoint(transport: String, rank: Int) throws -> String {
        switch transport {
        case "tcp": return "tcp://127.0.0.1:0"
        case "ipc": return "ipc:///tmp/cohort-\(getpid())-\(rank).ipc"
        case "shm": return "tcp://127.0.0.1:0"  // the sockets only carry the link set-up and small collectives
        default: throw ValidationError("--transport must be tcp, ipc or shm, got \(transport)")
        }
    }

    /// Runs the ranks; calls `line` with each line rank 0 prints. Throws if any rank fails or time runs out.
    static func run(
        mode: String, ranks: Int, transport: String, extra: [String], timeout: Double, placement: RankPlacement? = nil,
        line: (String) -> Void
    ) throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1") }
        let context = try Context()
        let server = try Rendezvous.Server(bind: placement?.rendezvousBind ?? "tcp://127.0.0.1:0", context: context)
        var processes: [Process] = []
        let out = Pipe()
        defer {
            for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
            if transport == "ipc" { for r in 0..<ranks { unlink("/tmp/cohort-\(getpid())-\(r).ipc") } }
        }
        for r in 0..<ranks {
            let args =
                [
                    "bench", "rank", "--mode", mode, "--rank", "\(r)", "--ranks", "\(ranks)", "--rendezvous", server.endpoint,
                    "--bind", try placement?.bind(rank: r) ?? bindEndpoint(transport: transport, rank: r), "--transport",
                    transport,
                ] + extra
            let p = RankPlacement.process(placement, rank: r, executable: executable(), arguments: args)
            p.standardOutput = r == 0 ? out : FileHandle.nullDevice
            try p.run()
            processes.append(p)
        }
        _ = try server.collect(size: ranks, deadline: .after(seconds: 30))
        var pending = Data()
        let handle = out.fileHandleForReading
        while true {
            let d = handle.availableData
            if d.isEmpty { break }
            pending.append(d)
            while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                line(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...nl)
            }
        }
        let end = Date().addingTimeInterval(timeout)
        for (r, p) in processes.enumerated() {
            while p.isRunning && Date() < end { usleep(10_000) }
            if p.isRunning { throw ValidationError("rank \(r) did not finish within \(Int(timeout)) s") }
            if p.terminationStatus != 0 { throw ValidationError("rank \(r) exited with status \(p.terminationStatus)") }
        }
    }

    /// Options passed through to every rank process.
    static func passthrough(_ pairs: [(String, String?)]) -> [String] {
        pairs.flatMap { name, value in value.map { ["--\(name)", $0] } ?? [] }
    }
}

/// Flushes stdout so a parent reading a pipe sees each line as soon as it is printed.
func flushOutput() { fflush(nil) }
