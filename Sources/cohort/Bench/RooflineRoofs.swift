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
    var l1: Double
    var l2: Double
    var dram: Double

    static func measure() -> RooflineRoofs {
        let peaks = GEMMKernel.supported.filter { $0 != .portable }.map { ($0, measureFMAPeak(kernel: $0)) }
        let peak = peaks.first { $0.0 == .selected }?.1 ?? peaks.map(\.1).max() ?? 0
        let l1Bytes = cacheBytes(index: 0) ?? 32 << 10
        let l2Bytes = cacheBytes(index: 2) ?? 1 << 20
        // Three arrays: a third of L1 (half of it: room for the stack), a quarter of L2, 64 MiB each for DRAM.
        return RooflineRoofs(
            peaks: peaks, peak: peak, l1Bytes: l1Bytes, l2Bytes: l2Bytes,
            l1: measureTriadBandwidth(bytesPerArray: l1Bytes / 6), l2: measureTriadBandwidth(bytesPerArray: l2Bytes / 4),
            dram: measureTriadBandwidth(bytesPerArray: 64 << 20, seconds: 0.5))
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
        return ("DRAM", dram)
    }

    var summary: String {
        let p = peaks.map { String(format: "%@ %.1f", "\($0.0)", $0.1) }.joined(separator: ", ")
        return String(
            format: "roofs: FMA peak %@ GFLOP/s (compute roof: %@); triad L1 %.1f, L2 %.1f, DRAM %.1f GB/s", p,
            "\(GEMMKernel.selected)", l1, l2, dram)
    }

    var csvRows: [String] {
        peaks.map { "peak,\($0.0),,,,,\($0.1)," } + [
            "bandwidth,L1,,,,,\(l1),", "bandwidth,L2,,,,,\(l2),", "bandwidth,DRAM,,,,,\(dram),",
        ]
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
