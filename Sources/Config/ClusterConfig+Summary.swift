/// The human-readable plan of a cluster: what `cohort validate` prints and `cohort launch` shows before starting.
extension ClusterConfig {
    public func summary() -> [String] {
        let layout = rankLayout
        let d = dataParallelDegree
        var lines: [String] = []
        let bind =
            cluster.interface == "*" ? "all interfaces" : cluster.interface.isEmpty ? "each host's address" : cluster.interface
        let security =
            cluster.security.curve
            ? "curve on" : "curve off, job token " + (cluster.security.tokenFile.map { "from \($0)" } ?? "generated")
        lines.append(
            "cluster \"\(cluster.name)\": coordinator \(cluster.coordinator.endpoint), data ports \(cluster.dataPorts)\(cluster.dataPorts.last == nil ? "+" : ""), bind \(bind), \(security)"
        )
        let hostList = hosts.map { "\($0.address) × \($0.workers)" + ($0.sshUser.map { " (ssh \($0))" } ?? "") }
        lines.append("hosts: \(hosts.count) (\(hostList.joined(separator: ", ")))")
        lines.append("workers: \(totalWorkers) = \(layout)")
        var job = "job: " + (self.job.workload.map { "\($0), " } ?? "")
        job += "\(self.job.data.dataset), model \(self.job.model.layers.map(String.init).joined(separator: "-")), "
        job += self.job.steps.map { "\($0) steps" } ?? "\(self.job.epochs) epochs"
        job +=
            ", global batch \(self.job.batchSize) (\(Self.perReplicaRows(self.job.batchSize, d)) per replica), \(self.job.optimizer.name) lr \(self.job.optimizer.lr)"
        lines.append(job)
        if parallelism.pipelineStages > 1 {
            lines.append(
                "pipeline: \(parallelism.pipelineStages) stages, \(parallelism.microBatches) micro-batches, schedule \(parallelism.schedule.rawValue)"
            )
        }
        lines.append("ranks:")
        for slot in plannedRanks() {
            lines.append(
                "  rank \(slot.rank): \(slot.address) worker \(slot.localIndex), data port \(slot.dataPort), stage \(slot.coordinates.stage), replica \(slot.coordinates.replica)"
            )
        }
        if let checkpoint {
            var when: [String] = []
            if let n = checkpoint.everySteps { when.append("every \(n) steps") }
            if let n = checkpoint.everyEpochs ?? (checkpoint.everySteps == nil ? 1 : nil) {
                when.append("every \(n) epoch\(n == 1 ? "" : "s")")
            }
            lines.append("checkpoints: \(checkpoint.directory), \(when.joined(separator: " and ")), keep \(checkpoint.keep)")
        } else {
            lines.append("checkpoints: off")
        }
        lines.append(
            "timeouts: heartbeat \(timeouts.heartbeatInterval) s, peer deadline \(timeouts.peerDeadline) s, rendezvous \(timeouts.rendezvousTimeout) s"
        )
        if output.metricsFile != nil || output.plotDirectory != nil {
            lines.append("output: metrics \(output.metricsFile ?? "-"), plots \(output.plotDirectory ?? "-")")
        }
        return lines
    }
}

extension ClusterConfig {
    /// A replica's rows of a global batch of `batch` over `d` replicas: "32", or "42–43" when it does not divide
    /// (rank r takes ⌊(r+1)·B/d⌋ − ⌊r·B/d⌋ rows).
    static func perReplicaRows(_ batch: Int, _ d: Int) -> String {
        let d = max(d, 1)
        let low = batch / d
        return batch % d == 0 ? "\(low)" : "\(low)–\(low + 1)"
    }
}
