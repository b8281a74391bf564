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
        var vendor = ""
        var family = 0
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if key == "vendor_id", vendor.isEmpty { vendor = value }
            if key == "cpu family", family == 0 { family = Int(value) ?? 0 }
            if !vendor.isEmpty && family != 0 { break }
        }
        return CPUModel(vendor: vendor, family: family)
    }

    private static func read() -> CPUModel {
        #if os(Linux)
            // The first processor's block is enough (and /proc/cpuinfo of a many-core machine is long).
            guard let handle = FileHandle(forReadingAtPath: "/proc/cpuinfo") else { return CPUModel(vendor: "", family: 0) }
            defer { try? handle.close() }
            let head = (try? handle.read(upToCount: 4096)) ?? Data()
            return parse(String(decoding: head, as: UTF8.self))
        #else
            return CPUModel(vendor: "", family: 0)
        #endif
    }
}
