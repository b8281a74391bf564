/// `elastic:` checks: the bounds hold the cluster file's own count, restarts and durations are in range, and what
/// elastic membership does not cover (pipelines, local SGD, bitwise mode) is refused here rather than at a death.
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

    /// Elastic membership reshards data-parallel replicas (a pipeline is restarted whole instead, under
    /// `elastic.restart`); local SGD's outer state is not rebuilt from peers yet, and bitwise mode is not built:
    /// each is one line, not a surprise at the first death.
    private func unsupportedElasticIssues(_ elastic: ElasticSpec, _ issues: inout IssueList) {
        let stages = parallelism.pipelineStages
        issues.check(
            stages <= 1 || elastic.maxWorkers == nil || elastic.maxWorkers == totalWorkers, ["elastic", "max_workers"],
            "a pipeline (pipeline_stages \(stages)) neither shrinks nor grows: it restarts whole under elastic.restart; leave max_workers out"
        )
        issues.check(
            parallelism.sync == nil, ["elastic"],
            "elastic membership does not cover local SGD (parallelism.sync) yet")
        issues.check(
            !elastic.deterministic, ["elastic", "deterministic"],
            "bitwise recovery (deterministic: true) is not built yet; leave it out or false")
    }
}
