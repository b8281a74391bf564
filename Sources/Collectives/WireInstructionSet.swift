import CWireKernels
import Foundation

/// Which variant of the bf16 and fp16 wire kernels (`CWireKernels`) this process runs: the best the CPU has, or the
/// one `COHORT_WIRE_KERNEL=avx512|avx2|portable` names, so one binary can time or test each path. Every variant
/// gives the same bits (for fp16, on every value but NaN); only the speed differs.
public enum WireInstructionSet: String, CaseIterable, Sendable {
    case portable, avx2, avx512

    /// The `COHORT_WIRE_*` value the C kernels take.
    public var code: Int32 {
        switch self {
        case .portable: return Int32(COHORT_WIRE_PORTABLE)
        case .avx2: return Int32(COHORT_WIRE_AVX2)
        case .avx512: return Int32(COHORT_WIRE_AVX512)
        }
    }

    public var isSupported: Bool { cohort_wire_isa_supported(code) != 0 }

    /// The widest variant this CPU runs (the cases are declared narrowest first).
    public static let best: WireInstructionSet = allCases.last(where: \.isSupported) ?? .portable

    /// Read once per process. A name this CPU cannot run falls back to `best` with a warning on stderr.
    public static let selected: WireInstructionSet = {
        guard let raw = ProcessInfo.processInfo.environment["COHORT_WIRE_KERNEL"], !raw.isEmpty else { return best }
        guard let named = WireInstructionSet(rawValue: raw), named.isSupported else {
            FileHandle.standardError.write(
                Data("COHORT_WIRE_KERNEL=\(raw): not one this CPU runs (portable, avx2, avx512); using \(best)\n".utf8))
            return best
        }
        return named
    }()
}
