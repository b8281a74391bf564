import ArgumentParser
import Foundation

/// Where the rank processes of a collective benchmark run: by default all on this machine over loopback. With
/// `--rank-addresses` and `--rank-wrapper` they run on separate (network-namespace) hosts, so a benchmark measures
/// what crosses a real, shaped link; `scripts/bench-allreduce-hosts.sh` sets that up.
struct RankPlacement: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Comma-separated addresses: rank r binds its data plane on address r mod count, the rendezvous on the first.",
            valueName: "addresses"), transform: CommaList.parse)
    var rankAddresses: CommaList<String>?
    @Option(
        help: ArgumentHelp(
            "An executable that starts each rank: run as WRAPPER RANK COHORT ARGS… (e.g. entering the rank's namespace).",
            valueName: "path"))
    var rankWrapper: String?

    var rendezvousBind: String { rankAddresses?.items.first.map { "tcp://\($0):0" } ?? "tcp://127.0.0.1:0" }

    /// The data-plane endpoint of `rank`, or nil for the transport's default.
    func bind(rank: Int) -> String? {
        guard let a = rankAddresses?.items, !a.isEmpty else { return nil }
        return "tcp://\(a[rank % a.count]):0"
    }

    /// The process of `rank`: this binary itself, or under the wrapper of `placement` (nil: run here).
    static func process(_ placement: RankPlacement?, rank: Int, executable: URL, arguments: [String]) -> Process {
        let p = Process()
        if let rankWrapper = placement?.rankWrapper {
            p.executableURL = URL(fileURLWithPath: rankWrapper)
            p.arguments = [String(rank), executable.path] + arguments
        } else {
            p.executableURL = executable
            p.arguments = arguments
        }
        return p
    }
}
