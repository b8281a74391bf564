import Foundation

/// Semantic checks: values that decode fine but cannot work together. Each issue names the key to fix.
extension ClusterConfig {
    public func validationIssues() -> [ConfigIssue] {
        var issues = IssueList()
        clusterIssues(&issues)
        hostIssues(&issues)
        parallelismIssues(&issues)
        jobIssues(&issues)
        checkpointIssues(&issues)
        timeoutIssues(&issues)
        outputIssues(&issues)
        elasticIssues(&issues)
        return issues.all
    }

    /// `cluster:`: names, ports and their ranges, the interface, security.
    func clusterIssues(_ issues: inout IssueList) {
        issues.check(!cluster.name.isEmpty, ["cluster", "name"], "must not be empty")
        issues.check(!cluster.coordinator.host.isEmpty, ["cluster", "coordinator", "host"], "must not be empty")
        issues.port(cluster.coordinator.port, ["cluster", "coordinator", "port"])
        standbyIssues(&issues)
        let ports = cluster.dataPorts
        issues.port(ports.first, ["cluster", "data_ports"])
        if let last = ports.last {
            issues.port(last, ["cluster", "data_ports"])
            issues.check(last >= ports.first, ["cluster", "data_ports"], "the range \(ports) ends before it starts")
        }
        let mostOnOneHost = min(hosts.map(\.workers).max() ?? 0, ConfigLimits.maximumWorkersPerHost)
        if ports.count >= 1 {
            issues.check(
                ports.count >= mostOnOneHost, ["cluster", "data_ports"],
                "\(ports) has \(ports.count) port\(ports.count == 1 ? "" : "s") but a host runs \(mostOnOneHost) workers (one port each)"
            )
        }
        let coordinatorSharesHost = hosts.contains { $0.address == cluster.coordinator.host }
        if coordinatorSharesHost {
            let usedPorts = ports.first..<(ports.first + max(mostOnOneHost, 1))
            issues.check(
                !usedPorts.contains(cluster.coordinator.port), ["cluster", "data_ports"],
                "worker ports \(usedPorts.lowerBound)-\(usedPorts.upperBound - 1) overlap the coordinator port \(cluster.coordinator.port) on \(cluster.coordinator.host)"
            )
        }
        if let tokenFile = cluster.security.tokenFile {
            issues.check(!tokenFile.isEmpty, ["cluster", "security", "token_file"], "must not be empty")
            issues.check(
                tokenFile.isEmpty || FileManager.default.isReadableFile(atPath: tokenFile),
                ["cluster", "security", "token_file"], "\(tokenFile) is not a readable file")
        }
        if cluster.security.curve {
            issues.check(
                !(cluster.security.keyFile ?? "").isEmpty, ["cluster", "security", "key_file"],
                "required when curve is true (create one with `cohort keys --output FILE`)")
        }
    }

    /// `cluster.coordinator.standby:`: an address of its own, and a proof both coordinators check (the generated
    /// token of one coordinator is unknown to the other).
    func standbyIssues(_ issues: inout IssueList) {
        guard let standby = cluster.coordinator.standby else { return }
        let key: [ConfigKey] = ["cluster", "coordinator", "standby"]
        issues.check(!standby.host.isEmpty, key + ["host"], "must not be empty")
        issues.port(standby.port, key + ["port"])
        issues.check(
            standby.host != cluster.coordinator.host || standby.port != cluster.coordinator.port, key,
            "must differ from the coordinator's own \(cluster.coordinator.host):\(cluster.coordinator.port)")
        issues.check(
            cluster.security.curve || cluster.security.tokenFile != nil, key,
            "needs security.token_file or curve: both coordinators must admit the same workers")
    }

    /// `hosts:`: addresses and users from safe character sets, each host once, worker counts in range.
    func hostIssues(_ issues: inout IssueList) {
        issues.check(!hosts.isEmpty, ["hosts"], "at least one host is needed")
        var firstIndexOfAddress: [String: Int] = [:]
        for (i, host) in hosts.enumerated() {
            let at: [ConfigKey] = ["hosts", ConfigKey(intValue: i)]
            issues.check(!host.address.isEmpty, at + ["address"], "must not be empty")
            issues.check(
                host.address.isEmpty || ConfigLimits.isHostName(host.address), at + ["address"],
                "\(host.address) is not a host name or address (letters, digits, '.', '-', ':', '_'; not starting with '-')")
            if let earlier = firstIndexOfAddress[host.address] {
                issues.check(
                    false, at + ["address"],
                    "\(host.address) is already hosts[\(earlier)] (list a host once, with all its workers)")
            } else {
                firstIndexOfAddress[host.address] = i
            }
            issues.check(host.workers >= 1, at + ["workers"], "must be at least 1, got \(host.workers)")
            issues.check(
                host.workers <= ConfigLimits.maximumWorkersPerHost, at + ["workers"],
                "must be at most \(ConfigLimits.maximumWorkersPerHost), got \(host.workers)")
            if let user = host.sshUser {
                issues.check(!user.isEmpty, at + ["ssh_user"], "must not be empty (leave it out for the current user)")
                issues.check(
                    user.isEmpty || ConfigLimits.isUserName(user), at + ["ssh_user"],
                    "\(user) is not a user name (letters, digits, '.', '-', '_'; not starting with '-')")
            }
        }
    }

    /// `parallelism:`: the grid multiplies out to the workers (checked arithmetic), gradient and sync sections.
    func parallelismIssues(_ issues: inout IssueList) {
        let total = totalWorkers
        let stages = parallelism.pipelineStages
        issues.check(stages >= 1, ["parallelism", "pipeline_stages"], "must be at least 1, got \(stages)")
        issues.check(
            parallelism.microBatches >= 1, ["parallelism", "micro_batches"], "must be at least 1, got \(parallelism.microBatches)"
        )
        if let d = parallelism.dataParallel {
            issues.check(d >= 1, ["parallelism", "data_parallel"], "must be at least 1, got \(d)")
            if d >= 1 && stages >= 1 && total >= 1 {
                let (product, overflow) = d.multipliedReportingOverflow(by: stages)
                issues.check(
                    !overflow && product == total, ["parallelism", "data_parallel"],
                    overflow
                        ? "data_parallel \(d) × pipeline_stages \(stages) overflows, but the hosts run \(total) workers"
                        : "data_parallel \(d) × pipeline_stages \(stages) = \(product), but the hosts run \(total) workers")
            }
        } else if stages >= 1 && total >= 1 {
            issues.check(
                total % stages == 0, ["parallelism", "pipeline_stages"],
                "\(total) workers cannot be split into \(stages) pipeline stages evenly")
        }

        for issue in parallelism.gradient?.issues(pipelineStages: stages, localSGD: parallelism.sync != nil) ?? [] {
            issues.append(ConfigIssue(["parallelism", "gradient", ConfigKey(stringValue: issue.key)], issue.message))
        }
        for issue in parallelism.sync?.issues(pipelineStages: stages) ?? [] {
            issues.append(ConfigIssue(["parallelism", "sync", ConfigKey(stringValue: issue.key)], issue.message))
        }
    }

    /// `job:`: its own checks (names, ranges), then what only the cluster knows (how the batch splits).
    func jobIssues(_ issues: inout IssueList) {
        do {
            try job.validate()
        } catch let error as JobError {
            let path = [ConfigKey("job")] + configKeys(error.keyPath)
            issues.append(ConfigIssue(path, error.message))
        } catch {
            issues.append(ConfigIssue(["job"], "\(error)"))
        }
        let stages = parallelism.pipelineStages
        let d = dataParallelDegree
        // Data parallelism alone splits any global batch: rank r of R takes rows [⌊r·B/R⌋, ⌊(r+1)·B/R⌋) and the
        // loss is averaged over the global batch, so the step is the single process's (a shrink from 4 to 3
        // workers needs 128 over 3). A pipeline replica cuts its rows into equal micro-batches, so it needs both
        // splits even.
        if job.batchSize >= 1 && d >= 1 && stages > 1 {
            issues.check(
                job.batchSize % d == 0, ["job", "batch_size"],
                "the global batch \(job.batchSize) does not split evenly over \(d) data-parallel replicas of a pipeline")
            let perReplica = job.batchSize / d
            if job.batchSize % d == 0 && parallelism.microBatches >= 1 {
                issues.check(
                    perReplica % parallelism.microBatches == 0, ["parallelism", "micro_batches"],
                    "a replica's batch of \(perReplica) does not split into \(parallelism.microBatches) micro-batches")
            }
        }
        // Synchronised batch statistics are all-reduced by the data-parallel worker, in its synchronous step only.
        for path in job.model.synchronizedBatchNormKeyPaths where stages > 1 || parallelism.sync != nil {
            issues.append(
                ConfigIssue(
                    [ConfigKey("job")] + configKeys(path),
                    stages > 1
                        ? "synchronised batch statistics need plain data parallelism; pipeline_stages is \(stages)"
                        : "synchronised batch statistics need a gradient all-reduce every step; parallelism.sync asks for local SGD"
                ))
        }
        let layers = job.model.layers
        if layers.count >= 2 && stages >= 1 {
            issues.check(
                stages <= layers.count - 1, ["parallelism", "pipeline_stages"],
                "\(stages) stages but the model has only \(layers.count - 1) layers")
        }
        if let split = parallelism.stageLayers {
            issues.check(
                split.count == stages && split.allSatisfy { $0 >= 1 } && split.reduce(0, +) == layers.count - 1,
                ["parallelism", "stage_layers"],
                "\(split) must give each of the \(stages) stages at least one layer, \(layers.count - 1) layers in all")
        }
    }

    /// `checkpoint:`: a directory, positive cadence and retention.
    func checkpointIssues(_ issues: inout IssueList) {
        if let checkpoint {
            issues.check(!checkpoint.directory.isEmpty, ["checkpoint", "directory"], "must not be empty")
            if let n = checkpoint.everyEpochs {
                issues.check(n >= 1, ["checkpoint", "every_epochs"], "must be at least 1, got \(n)")
            }
            if let n = checkpoint.everySteps {
                issues.check(n >= 1, ["checkpoint", "every_steps"], "must be at least 1, got \(n)")
            }
            issues.check(checkpoint.keep >= 1, ["checkpoint", "keep"], "must be at least 1, got \(checkpoint.keep)")
        }
    }

    /// `timeouts:`: positive durations up to a day; the peer deadline spans two heartbeats.
    func timeoutIssues(_ issues: inout IssueList) {
        issues.positiveSeconds(timeouts.heartbeatInterval, ["timeouts", "heartbeat_interval_s"])
        issues.positiveSeconds(timeouts.peerDeadline, ["timeouts", "peer_deadline_s"])
        issues.positiveSeconds(timeouts.rendezvousTimeout, ["timeouts", "rendezvous_timeout_s"])
        if timeouts.heartbeatInterval > 0 && timeouts.peerDeadline > 0 {
            issues.check(
                timeouts.peerDeadline >= 2 * timeouts.heartbeatInterval, ["timeouts", "peer_deadline_s"],
                "\(timeouts.peerDeadline) s must be at least twice heartbeat_interval_s (\(timeouts.heartbeatInterval) s), so one late heartbeat is not a death"
            )
        }
    }

    /// `output:`: no empty paths.
    func outputIssues(_ issues: inout IssueList) {
        if let file = output.metricsFile { issues.check(!file.isEmpty, ["output", "metrics_file"], "must not be empty") }
        if let dir = output.plotDirectory { issues.check(!dir.isEmpty, ["output", "plot_directory"], "must not be empty") }
        if let file = output.logFile { issues.check(!file.isEmpty, ["output", "log_file"], "must not be empty") }
        if let http = output.http { httpIssues(http, &issues) }
    }

    /// `output.http:`: a port (0: any free one), an address that is an IP or `*`, and no clash with the
    /// coordinator's own port on the same address.
    func httpIssues(_ http: HTTPSpec, _ issues: inout IssueList) {
        issues.check(
            (0...65535).contains(http.port), ["output", "http", "port"],
            "port \(http.port) is outside 0...65535 (0: any free port)")
        if let address = http.address {
            issues.check(
                HTTPSpec.isBindable(address), ["output", "http", "address"],
                "\"\(address)\" is not an IP address or * (the endpoint binds it)")
        }
        let sharesAddress = http.address == nil || http.address == cluster.coordinator.host || http.address == "*"
        issues.check(
            !(sharesAddress && http.port == cluster.coordinator.port), ["output", "http", "port"],
            "\(http.port) is the coordinator's control port")
    }
}

/// Issues as the checks find them: `check` records one when a condition fails.
struct IssueList {
    var all: [ConfigIssue] = []

    mutating func check(_ ok: Bool, _ path: [ConfigKey], _ message: @autoclosure () -> String) {
        if !ok { all.append(ConfigIssue(path, message())) }
    }

    mutating func append(_ issue: ConfigIssue) { all.append(issue) }

    mutating func port(_ value: Int, _ path: [ConfigKey]) {
        check((1...65535).contains(value), path, "port \(value) is outside 1...65535")
    }

    mutating func positiveSeconds(_ value: Double, _ path: [ConfigKey]) {
        check(
            value.isFinite && value > 0 && value <= ConfigLimits.maximumSeconds, path,
            "must be a positive number of seconds up to \(Int(ConfigLimits.maximumSeconds)) (one day), got \(value)")
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
