import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Who made this CPU and its family number, for block sizes that differ by microarchitecture where the
/// instruction set is the same (BLIS keeps a configuration per microarchitecture for the same reason: zen4 and skx
/// both run AVX-512 kernels, from different block-size tables). Read from /proc/cpuinfo on Linux; elsewhere unknown.
public struct CPUModel: Sendable, Equatable, CustomStringConvertible {
    /// `vendor_id`, e.g. "AuthenticAMD", "GenuineIntel"; empty when unknown.
    public let vendor: String
    /// `cpu family`: 25 (0x19) for AMD Zen 3 and Zen 4, 26 (0x1A) for Zen 5; 0 when unknown.
    public let family: Int

    public static let current = CPUModel.read()

    public init(vendor: String, family: Int) {
        self.vendor = vendor
        self.family = family
    }

    public var description: String { vendor.isEmpty ? "unknown CPU" : "\(vendor) family \(family)" }

    /// An AMD core of the Zen 4 generation or later (family ≥ 25 with AVX-512: Zen 3 shares family 25 but has no
    /// AVX-512). Their block-size entries were measured on Zen 4 only.
    public var isAMDZen4OrLater: Bool { vendor == "AuthenticAMD" && family >= 25 && CPUFeatures.hasAVX512 }

    /// The first `vendor_id` and `cpu family` lines of a /proc/cpuinfo text.
    public static func parse(_ text: String) -> CPUModel {
        CPUModel(
            vendor: CPUInfo.value(of: "vendor_id", in: text) ?? "",
            family: CPUInfo.value(of: "cpu family", in: text).flatMap { Int($0) } ?? 0)
    }

    private static func read() -> CPUModel {
        #if os(Linux)
            return parse(CPUInfo.firstProcessor)
        #else
            return CPUModel(vendor: "", family: 0)
        #endif
    }
}

/// /proc/cpuinfo, read once for both `CPUFeatures` (the flags) and `CPUModel` (vendor and family): its first
/// processor's block, which has every line they look for (the file of a many-core machine is long).
enum CPUInfo {
    static let firstProcessor: String = {
        #if os(Linux)
            guard let file = fopen("/proc/cpuinfo", "r") else { return "" }
            defer { fclose(file) }
            var line: UnsafeMutablePointer<CChar>? = nil
            var capacity = 0
            defer { free(line) }
            var text = ""
            while getline(&line, &capacity, file) > 0, let l = line {
                let s = String(cString: l)
                if s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { break }
                text += s
            }
            return text
        #else
            return ""
        #endif
    }()

    /// The value of the first `key : value` line for `key` in `text`, trimmed; nil when there is none.
    static func value(of key: String, in text: String) -> String? {
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"),
                line[..<colon].trimmingCharacters(in: .whitespaces) == key
            else { continue }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}
