import Foundation
import Runtime
import Tensors

/// The roofs: the FMA peak of every kernel path this CPU runs (the selected one is the compute roof) and triad
/// bandwidth with arrays in L1, in L2 and in DRAM (sizes from sysfs, else 32 KiB and 1 MiB).
struct RooflineRoofs {
    var peaks: [(GEMMKernel, Double)]
    var peak: Double
    var l1Bytes: Int
    var l2Bytes: Int
    var l3Bytes: Int?
    var l1: Double
    var l2: Double
    /// Measured only where sysfs names an L3: ops too big for L2 but inside L3 are held to this roof, not DRAM's.
    var l3: Double?
    var dram: Double

    static func measure() -> RooflineRoofs {
        let peaks = GEMMKernel.supported.filter { $0 != .portable }.map { ($0, measureFMAPeak(kernel: $0)) }
        let peak = peaks.first { $0.0 == .selected }?.1 ?? peaks.map(\.1).max() ?? 0
        let l1Bytes = cacheBytes(index: 0) ?? 32 << 10
        let l2Bytes = cacheBytes(index: 2) ?? 1 << 20
        let l3Bytes = cacheBytes(index: 3)
        // Three arrays filling a quarter of L1 each (room for the stack), a quarter of L2, twice the L2 for L3
        // (within a quarter of it: a VM may report its host's whole L3, shared by every core), and twice the L3
        // each for DRAM (64 to 256 MiB).
        let dramArray = min(256 << 20, max(64 << 20, 2 * (l3Bytes ?? 0)))
        let l3Array = l3Bytes.map { min($0 / 4, 2 * l2Bytes) }
        let dram = measureTriadBandwidth(bytesPerArray: dramArray, seconds: 0.5)
        // An L3 no faster than DRAM (a busy machine, a victim cache) is no separate roof.
        let l3 = l3Array.map { measureTriadBandwidth(bytesPerArray: $0) }.flatMap { $0 > dram ? $0 : nil }
        return RooflineRoofs(
            peaks: peaks, peak: peak, l1Bytes: l1Bytes, l2Bytes: l2Bytes, l3Bytes: l3Bytes,
            l1: measureTriadBandwidth(bytesPerArray: l1Bytes / 4), l2: measureTriadBandwidth(bytesPerArray: l2Bytes / 4),
            l3: l3, dram: dram)
    }

    /// /sys/devices/system/cpu/cpu0/cache/indexN/size ("48K", "2048K", "1M").
    static func cacheBytes(index: Int) -> Int? {
        let path = "/sys/devices/system/cpu/cpu0/cache/index\(index)/size"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            let unit = text.last, let value = Int(text.dropLast())
        else { return nil }
        switch unit {
        case "K": return value << 10
        case "M": return value << 20
        default: return Int(text)
        }
    }

    /// The level an op's bytes fit in (its memory roof).
    func level(forBytes bytes: Double) -> (String, Double) {
        if bytes <= Double(l1Bytes) { return ("L1", l1) }
        if bytes <= Double(l2Bytes) { return ("L2", l2) }
        if let l3, let l3Bytes, bytes <= Double(l3Bytes) { return ("L3", l3) }
        return ("DRAM", dram)
    }

    var summary: String {
        let p = peaks.map { String(format: "%@ %.1f", "\($0.0)", $0.1) }.joined(separator: ", ")
        return String(
            format: "roofs: FMA peak %@ GFLOP/s (compute roof: %@); triad L1 %.1f, L2 %.1f, %@DRAM %.1f GB/s", p,
            "\(GEMMKernel.selected)", l1, l2, l3.map { String(format: "L3 %.1f, ", $0) } ?? "", dram)
    }

    var csvRows: [String] {
        peaks.map { "peak,\($0.0),,,,,\($0.1)," } + [
            "bandwidth,L1,,,,,\(l1),", "bandwidth,L2,,,,,\(l2),",
        ] + (l3.map { ["bandwidth,L3,,,,,\($0),"] } ?? []) + ["bandwidth,DRAM,,,,,\(dram),"]
    }
}

/// Runs scripts/NAME CSV PNG (found in the working directory or above this binary); false when it cannot.
func runPlotScript(_ name: String, csv: String, png: String) -> Bool {
    let fm = FileManager.default
    var candidates = [fm.currentDirectoryPath]
    var dir = URL(fileURLWithPath: Launcher.selfExecutable()).deletingLastPathComponent()
    for _ in 0..<5 {
        candidates.append(dir.path)
        dir = dir.deletingLastPathComponent()
    }
    guard let script = candidates.map({ ($0 as NSString).appendingPathComponent("scripts/\(name)") }).first(where: fm.fileExists)
    else {
        FileHandle.standardError.write(Data("cohort: scripts/\(name) not found; no plot\n".utf8))
        return false
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", script, csv, png]
    p.standardOutput = FileHandle.standardError
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}

/// Memory roofs measured at each op's own footprint: the triad with its three arrays together as large as the bytes
/// the op moves. A level's roof is measured at one size (a quarter of L2 per array, say), and an op whose data fills
/// a tenth of L2 ran at twice that roof, one spilling just past L2 far above the L3 figure: a roof at the op's own
/// size is what it could reach with the same mix of loads and stores. Footprints are rounded up to a step of √2,
/// so ops of about the same size share one measurement.
final class FootprintRoofs {
    private var measured: [Int: Double] = [:]
    private let kernel: GEMMKernel

    init(kernel: GEMMKernel = .selected) { self.kernel = kernel }

    /// GB/s of the triad at `bytes` (at least 12 KiB in all, below which a pass is too short to time).
    func bandwidth(forBytes bytes: Double) -> Double {
        let step = Int((log2(max(bytes, 12_288)) * 2).rounded(.up))
        if let known = measured[step] { return known }
        let total = pow(2, Double(step) / 2)
        let gbps = measureTriadBandwidth(bytesPerArray: Int(total / 3), kernel: kernel, seconds: 0.1)
        measured[step] = gbps
        return gbps
    }
}
