import Foundation

/// Semantic checks: values that decode fine but cannot work together. Each issue names the key to fix.
extension ClusterConfig {
    public func validationIssues() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func check(_ ok: Bool, _ path: [ConfigKey], _ message: @autoclosure () -> String) {
            if !ok { issues.append(ConfigIssue(path, message())) }
        }
        func port(_ value: Int, _ path: [ConfigKey]) {
            check((1...65535).contains(value), path, "port \(value) is outside 1...65535")
        }
        func positive(_ value: Double, _ path: [ConfigKey]) {
            check(
                value.isFinite && value > 0 && value <= ConfigLimits.maximumSeconds, path,
                "must be a positive number of seconds up to \(Int(ConfigLimits.maximumSeconds)) (one day), got \(value)")
        }

        // cluster
        check(!cluster.name.isEmpty, ["cluster", "name"], "must not be empty")
        check(!cluster.coordinator.host.isEmpty, ["cluster", "coordinator", "host"], "must not be empty")
        port(cluster.coordinator.port, ["cluster", "coordinator", "port"])
        let ports = cluster.dataPorts
        port(ports.first, ["cluster", "data_ports"])
        if let last = ports.last {
            port(last, ["cluster", "data_ports"])
            check(last >= ports.first, ["cluster", "data_ports"], "the range \(ports) ends before it starts")
        }
        let mostOnOneHost = min(hosts.map(\.workers).max() ?? 0, ConfigLimits.maximumWorkersPerHost)
        if ports.count >= 1 {
            check(
                ports.count >= mostOnOneHost, ["cluster", "data_ports"],
                "\(ports) has \(ports.count) port\(ports.count == 1 ? "" : "s") but a host runs \(mostOnOneHost) workers (one port each)"
            )
        }
        let coordinatorSharesHost = hosts.contains { $0.address == cluster.coordinator.host }
        if coordinatorSharesHost {
            let usedPorts = ports.first..<(ports.first + max(mostOnOneHost, 1))
            check(
                !usedPorts.contains(cluster.coordinator.port), ["cluster", "data_ports"],
                "worker ports \(usedPorts.lowerBound)-\(usedPorts.upperBound - 1) overlap the coordinator port \(cluster.coordinator.port) on \(cluster.coordinator.host)"
            )
        }
        if let tokenFile = cluster.security.tokenFile {
            check(!tokenFile.isEmpty, ["cluster", "security", "token_file"], "must not be empty")
            check(
                tokenFile.isEmpty || FileManager.default.isReadableFile(atPath: tokenFile),
                ["cluster", "security", "token_file"], "\(tokenFile) is not a readable file")
        }
        if cluster.security.curve {
            check(
                !(cluster.security.keyFile ?? "").isEmpty, ["cluster", "security", "key_file"],
                "required when curve is true (create one with `cohort keys --output FILE`)")
        }

        // hosts
        check(!hosts.isEmpty, ["hosts"], "at least one host is needed")
        var firstIndexOfAddress: [String: Int] = [:]
        for (i, host) in hosts.enumerated() {
            let at: [ConfigKey] = ["hosts", ConfigKey(intValue: i)]
            check(!host.address.isEmpty, at + ["address"], "must not be empty")
            check(
                host.address.isEmpty || ConfigLimits.isHostName(host.address), at + ["address"],
                "\(host.address) is not a host name or address (letters, digits, '.', '-', ':', '_'; not starting with '-')")
            if let earlier = firstIndexOfAddress[host.address] {
                check(
                    false, at + ["address"],
                    "\(host.address) is already hosts[\(earlier)] (list a host once, with all its workers)")
            } else {
                firstIndexOfAddress[host.address] = i
            }
            check(host.workers >= 1, at + ["workers"], "must be at least 1, got \(host.workers)")
            check(
                host.workers <= ConfigLimits.maximumWorkersPerHost, at + ["workers"],
                "must be at most \(ConfigLimits.maximumWorkersPerHost), got \(host.workers)")
            if let user = host.sshUser {
                check(!user.isEmpty, at + ["ssh_user"], "must not be empty (leave it out for the current user)")
                check(
                    user.isEmpty || ConfigLimits.isUserName(user), at + ["ssh_user"],
                    "\(user) is not a user name (letters, digits, '.', '-', '_'; not starting with '-')")
            }
        }

        // parallelism
        let total = totalWorkers
        let stages = parallelism.pipelineStages
        check(stages >= 1, ["parallelism", "pipeline_stages"], "must be at least 1, got \(stages)")
        check(
            parallelism.microBatches >= 1, ["parallelism", "micro_batches"], "must be at least 1, got \(parallelism.microBatches)"
        )
        if let d = parallelism.dataParallel {
            check(d >= 1, ["parallelism", "data_parallel"], "must be at least 1, got \(d)")
            if d >= 1 && stages >= 1 && total >= 1 {
                let (product, overflow) = d.multipliedReportingOverflow(by: stages)
                check(
                    !overflow && product == total, ["parallelism", "data_parallel"],
                    overflow
                        ? "data_parallel \(d) × pipeline_stages \(stages) overflows, but the hosts run \(total) workers"
                        : "data_parallel \(d) × pipeline_stages \(stages) = \(product), but the hosts run \(total) workers")
            }
        } else if stages >= 1 && total >= 1 {
            check(
                total % stages == 0, ["parallelism", "pipeline_stages"],
                "\(total) workers cannot be split into \(stages) pipeline stages evenly")
        }

        for issue in parallelism.gradient?.issues(pipelineStages: stages, localSGD: parallelism.sync != nil) ?? [] {
            issues.append(ConfigIssue(["parallelism", "gradient", ConfigKey(stringValue: issue.key)], issue.message))
        }
        for issue in parallelism.sync?.issues(pipelineStages: stages) ?? [] {
            issues.append(ConfigIssue(["parallelism", "sync", ConfigKey(stringValue: issue.key)], issue.message))
        }

        // job: its own checks (names, ranges), then what only the cluster knows (how the batch splits).
        do {
            try job.validate()
        } catch let error as JobError {
            let path = [ConfigKey("job")] + configKeys(error.keyPath)
            issues.append(ConfigIssue(path, error.message))
        } catch {
            issues.append(ConfigIssue(["job"], "\(error)"))
        }
        let d = dataParallelDegree
        if job.batchSize >= 1 && d >= 1 {
            check(
                job.batchSize % d == 0, ["job", "batch_size"],
                "the global batch \(job.batchSize) does not split evenly over \(d) data-parallel replicas")
            let perReplica = job.batchSize / d
            if job.batchSize % d == 0 && parallelism.microBatches >= 1 && stages > 1 {
                check(
                    perReplica % parallelism.microBatches == 0, ["parallelism", "micro_batches"],
                    "a replica's batch of \(perReplica) does not split into \(parallelism.microBatches) micro-batches")
            }
        }
        let layers = job.model.layers
        if layers.count >= 2 && stages >= 1 {
            check(
                stages <= layers.count - 1, ["parallelism", "pipeline_stages"],
                "\(stages) stages but the model has only \(layers.count - 1) layers")
        }
        if let split = parallelism.stageLayers {
            check(
                split.count == stages && split.allSatisfy { $0 >= 1 } && split.reduce(0, +) == layers.count - 1,
                ["parallelism", "stage_layers"],
                "\(split) must give each of the \(stages) stages at least one layer, \(layers.count - 1) layers in all")
        }

        // checkpoint
        if let checkpoint {
            check(!checkpoint.directory.isEmpty, ["checkpoint", "directory"], "must not be empty")
            if let n = checkpoint.everyEpochs { check(n >= 1, ["checkpoint", "every_epochs"], "must be at least 1, got \(n)") }
            if let n = checkpoint.everySteps { check(n >= 1, ["checkpoint", "every_steps"], "must be at least 1, got \(n)") }
            check(checkpoint.keep >= 1, ["checkpoint", "keep"], "must be at least 1, got \(checkpoint.keep)")
        }

        // timeouts
        positive(timeouts.heartbeatInterval, ["timeouts", "heartbeat_interval_s"])
        positive(timeouts.peerDeadline, ["timeouts", "peer_deadline_s"])
        positive(timeouts.rendezvousTimeout, ["timeouts", "rendezvous_timeout_s"])
        if timeouts.heartbeatInterval > 0 && timeouts.peerDeadline > 0 {
            check(
                timeouts.peerDeadline >= 2 * timeouts.heartbeatInterval, ["timeouts", "peer_deadline_s"],
                "\(timeouts.peerDeadline) s must be at least twice heartbeat_interval_s (\(timeouts.heartbeatInterval) s), so one late heartbeat is not a death"
            )
        }

        // output
        if let file = output.metricsFile { check(!file.isEmpty, ["output", "metrics_file"], "must not be empty") }
        if let dir = output.plotDirectory { check(!dir.isEmpty, ["output", "plot_directory"], "must not be empty") }
        return issues
    }
}

/// A rendered key path ("model.layers[2].conv.kernel") as coding keys, list indices as integer keys, so that the
/// line of the item can be found.
func configKeys(_ keyPath: String) -> [ConfigKey] {
    var keys: [ConfigKey] = []
    for part in keyPath.split(separator: ".") {
        var name = Substring(part)
        var indices: [Int] = []
        while name.hasSuffix("]"), let open = name.lastIndex(of: "["),
            let i = Int(name[name.index(after: open)..<name.index(before: name.endIndex)])
        {
            indices.insert(i, at: 0)
            name = name[..<open]
        }
        if !name.isEmpty { keys.append(ConfigKey(stringValue: String(name))) }
        keys += indices.map { ConfigKey(intValue: $0) }
    }
    return keys
}
