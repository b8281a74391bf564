import Config
import Training

extension ClusterConfig {
    /// The same cluster scaled to `count` workers (data-parallel degree follows): the workers are spread over
    /// the hosts in order, as evenly as their order allows. Used by `launch --workers` and `bench scaling`.
    public func withWorkers(_ count: Int) throws -> ClusterConfig {
        guard count >= 1 else { throw RuntimeError.invalid("--workers: expected at least 1, got \(count)") }
        guard !hosts.isEmpty else { throw RuntimeError.invalid("hosts: the cluster lists no host") }
        var copy = self
        let perHost = count / hosts.count
        let extra = count % hosts.count
        for i in copy.hosts.indices { copy.hosts[i].workers = perHost + (i < extra ? 1 : 0) }
        copy.hosts.removeAll { $0.workers == 0 }
        let stages = max(parallelism.pipelineStages, 1)
        guard count % stages == 0 else {
            throw RuntimeError.invalid("--workers: \(count) workers cannot form \(stages) pipeline stages")
        }
        copy.parallelism.dataParallel = count / stages
        return copy
    }
}
