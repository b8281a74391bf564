import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The kernel families, one per instruction set: the `family` half of a `KernelKey`. The same Swift source is
/// compiled once per family in its own target (KernelsAVX512, KernelsAVX2; the portable kernels live in Tensors)
/// with its own `-target-cpu`, and one family is chosen at run time, so a single binary runs on any x86-64. The
/// choice covers every kernel of the family: GEMM, and the vector exp that softmax uses.
public enum GEMMKernel: String, CaseIterable, Sendable, CustomStringConvertible {
    case avx512, avx2, portable

    public var description: String { rawValue }

    /// Whether this CPU (and OS) can run the kernel.
    public var isSupported: Bool {
        switch self {
        case .portable: return true
        case .avx2: return CPUFeatures.hasAVX2FMA
        case .avx512: return CPUFeatures.hasAVX512
        }
    }

    /// Every kernel this CPU can run, fastest first.
    public static var supported: [GEMMKernel] { allCases.filter(\.isSupported) }

    /// The fastest kernel this CPU can run.
    public static var best: GEMMKernel { supported[0] }

    /// The kernel `sgemm` uses when none is named: `best`, unless the environment variable
    /// `COHORT_GEMM_KERNEL=avx512|avx2|portable` forces another (read once per process).
    public static var selected: GEMMKernel { selectedOnce }

    private static let selectedOnce: GEMMKernel = {
        guard let raw = getenv("COHORT_GEMM_KERNEL").map({ String(cString: $0) }), !raw.isEmpty else { return best }
        guard let forced = GEMMKernel(rawValue: raw.lowercased()) else {
            warn("COHORT_GEMM_KERNEL=\(raw) is not one of avx512, avx2, portable; using \(best)")
            return best
        }
        guard forced.isSupported else {
            warn(
                "COHORT_GEMM_KERNEL=\(raw): this CPU cannot run it (supported: \(supported.map(\.rawValue).joined(separator: ", "))); using \(best)"
            )
            return best
        }
        return forced
    }()

    private static func warn(_ message: String) {
        FileHandle.standardError.write(Data("cohort: warning: \(message)\n".utf8))
    }
}

/// The instruction-set features the kernels need, read from the OS (Swift has no `cpuid`): the `flags` line of
/// /proc/cpuinfo on Linux, `hw.optional.*` sysctls on macOS. The OS lists AVX/AVX-512 only when it saves their
/// registers, so these flags already include the OS-support check.
struct CPUFeatures: Sendable {
    let flags: Set<String>

    static let current = CPUFeatures(flags: readFlags())
    /// The answers for this CPU, looked up once: each lookup hashes flag names, and callers ask per call.
    static let hasAVX2FMA = current.hasAVX2FMA
    static let hasAVX512 = current.hasAVX512

    /// Everything `-target-cpu haswell` may emit in the AVX2 kernel.
    var hasAVX2FMA: Bool {
        #if arch(x86_64)
            return ["avx", "avx2", "fma", "f16c", "bmi1", "bmi2"].allSatisfy(flags.contains)
        #else
            return false
        #endif
    }

    /// Everything `-target-cpu skylake-avx512` may emit in the AVX-512 kernel.
    var hasAVX512: Bool {
        #if arch(x86_64)
            return hasAVX2FMA && ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"].allSatisfy(flags.contains)
        #else
            return false
        #endif
    }

    private static func readFlags() -> Set<String> {
        #if os(Linux)
            let line =
                CPUInfo.value(of: "flags", in: CPUInfo.firstProcessor)
                ?? CPUInfo.value(of: "Features", in: CPUInfo.firstProcessor) ?? ""
            return Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
        #elseif os(macOS) && arch(x86_64)
            let names = [
                "avx1_0": "avx", "avx2_0": "avx2", "fma": "fma", "f16c": "f16c", "bmi1": "bmi1", "bmi2": "bmi2",
                "avx512f": "avx512f", "avx512dq": "avx512dq", "avx512cd": "avx512cd", "avx512bw": "avx512bw",
                "avx512vl": "avx512vl",
            ]
            var found: Set<String> = []
            for (sysctl, flag) in names {
                var value: Int32 = 0
                var size = MemoryLayout<Int32>.size
                if sysctlbyname("hw.optional." + sysctl, &value, &size, nil, 0) == 0, value != 0 { found.insert(flag) }
            }
            return found
        #else
            return []
        #endif
    }
}
