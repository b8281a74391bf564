/// `elastic:` checks: the bounds hold the cluster file's own count, restarts and durations are in range, and what
/// elastic membership does not cover (pipelines, local SGD, what bitwise mode cannot make exact) is refused here rather than at a death.
extension ClusterConfig {
    func elasticIssues(_ issues: inout IssueList) {
        guard let elastic else { return }
        let total = totalWorkers
        issues.check(elastic.minWorkers >= 1, ["elastic", "min_workers"], "must be at least 1, got \(elastic.minWorkers)")
        if total >= 1 {
            issues.check(
                elastic.minWorkers <= total, ["elastic", "min_workers"],
                "\(elastic.minWorkers) is more than the \(total) workers the hosts run")
        }
        if let maxWorkers = elastic.maxWorkers {
            issues.check(
                maxWorkers >= total, ["elastic", "max_workers"],
                "\(maxWorkers) is fewer than the \(total) workers the hosts run")
            issues.check(
                maxWorkers >= elastic.minWorkers, ["elastic", "max_workers"],
                "\(maxWorkers) is less than min_workers \(elastic.minWorkers)")
            issues.check(
                maxWorkers <= ConfigLimits.maximumWorkersPerHost * max(hosts.count, 1), ["elastic", "max_workers"],
                "must be at most \(ConfigLimits.maximumWorkersPerHost) per host, got \(maxWorkers)")
        }
        restartIssues(elastic.restart, &issues)
        issues.positiveSeconds(elastic.joinTimeout, ["elastic", "join_timeout_s"])
        unsupportedElasticIssues(elastic, &issues)
    }

    private func restartIssues(_ restart: RestartPolicy, _ issues: inout IssueList) {
        issues.check(
            (0...ConfigLimits.maximumRestarts).contains(restart.maxRestarts), ["elastic", "restart", "max_restarts"],
            "must be in 0...\(ConfigLimits.maximumRestarts), got \(restart.maxRestarts)")
        issues.check(
            restart.backoff.isFinite && restart.backoff >= 0 && restart.backoff <= ConfigLimits.maximumSeconds,
            ["elastic", "restart", "backoff_s"],
            "must be a number of seconds in 0...\(Int(ConfigLimits.maximumSeconds)), got \(restart.backoff)")
    }

    /// Elastic membership reshards data-parallel replicas (a DP × PP grid loses and regains whole replicas, up to
    /// the workers the hosts run; a single pipeline is restarted whole instead, under `elastic.restart`); local SGD's outer state is not rebuilt from peers yet, and bitwise mode is not built:
    /// each is one line, not a surprise at the first death.
    private func unsupportedElasticIssues(_ elastic: ElasticSpec, _ issues: inout IssueList) {
        let stages = parallelism.pipelineStages
        issues.check(
            stages <= 1 || elastic.maxWorkers == nil || elastic.maxWorkers == totalWorkers, ["elastic", "max_workers"],
            "a pipeline (pipeline_stages \(stages)) grows back at most to the workers the hosts run (a grid by whole replicas; one pipeline restarts whole under elastic.restart); leave max_workers out"
        )
        issues.check(
            parallelism.sync == nil, ["elastic"],
            "elastic membership does not cover local SGD (parallelism.sync) yet")
        if elastic.deterministic { deterministicIssues(elastic, &issues) }
    }

    /// Bitwise recovery sums each logical shard's exact gradient: what would make a shard's gradient or the sum
    /// depend on the membership is refused (a dropout or BatchNorm layer draws or counts per forward pass, a
    /// compressed or locally-synchronised gradient is not the exact sum; pipeline stages are not covered).
    private func deterministicIssues(_ elastic: ElasticSpec, _ issues: inout IssueList) {
        let key: [ConfigKey] = ["elastic", "deterministic"]
        let logical = elastic.maximum(configured: totalWorkers)
        issues.check(
            logical <= ConfigLimits.maximumDeterministicShards, key,
            "bitwise recovery sums at most \(ConfigLimits.maximumDeterministicShards) logical shards (max_workers), got \(logical)"
        )
        issues.check(
            parallelism.pipelineStages <= 1, key, "bitwise recovery covers data parallelism only, not pipeline stages")
        issues.check(
            (parallelism.gradient?.compression ?? GradientCompression.none) == GradientCompression.none, key,
            "bitwise recovery needs the exact gradient sum: leave parallelism.gradient.compression out")
        issues.check(
            job.compression?.qat == nil, key, "bitwise recovery does not cover QAT's all-reduced observers (job.compression.qat)")
        issues.check(
            !Self.hasStochasticOrBatchLayer(job.model.layerSpecs), key,
            "bitwise recovery does not cover dropout or batchnorm layers (their draws and statistics follow the rows each worker holds)"
        )
    }

    private static func hasStochasticOrBatchLayer(_ layers: [LayerSpec]) -> Bool {
        layers.contains {
            switch $0 {
            case .dropout(let p): return p > 0
            case .batchnorm: return true
            case .residual(let body): return hasStochasticOrBatchLayer(body)
            default: return false
            }
        }
    }
}
