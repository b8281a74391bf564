import ArgumentParser
import Config

/// The gradient method of a run without editing cluster.yaml (`launch`, `coordinator`, `bench scaling`): the
/// flags set `parallelism.gradient`, and what they set must hold as if the file had said it.
struct GradientMethodOptions: ParsableArguments {
    @Option(help: "Gradient compression: none | bf16 | fp16 | powersgd | topk (parallelism.gradient.compression).")
    var compression: GradientCompression?

    @Option(name: .customLong("compression-rank"), help: "PowerSGD's rank (parallelism.gradient.rank).")
    var compressionRank: Int?

    @Option(help: "Top-k's share of each bucket sent (parallelism.gradient.density).")
    var density: Double?

    var isSet: Bool { compression != nil || compressionRank != nil || density != nil }

    func apply(to config: ClusterConfig) throws -> ClusterConfig {
        guard isSet else { return config }
        var c = config
        var g = c.parallelism.gradient ?? GradientSpec()
        if let compression { g.compression = compression }
        if let compressionRank { g.rank = compressionRank }
        if let density { g.density = density }
        c.parallelism.gradient = g
        if let issue = c.validationIssues().first(where: { $0.path.first?.stringValue == "parallelism" }) {
            throw ValidationError("\(issue) (after --compression/--compression-rank/--density)")
        }
        return c
    }
}
