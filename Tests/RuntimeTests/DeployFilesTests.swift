import CohortTestSupport
import Config
import Foundation
import Runtime
import Testing
import Yams

/// The Docker, Kubernetes and Slurm files: parsed and cross-checked here in Swift (always), and linted by the
/// real tools through scripts/check-deploy-files.sh where they can be installed.
@Suite struct DeployFilesTests {
    static func text(_ relative: String) throws -> String {
        try String(contentsOfFile: TestFiles.repo(relative), encoding: .utf8)
    }

    static func documents(_ relative: String) throws -> [[String: Any]] {
        try Yams.load_all(yaml: text(relative)).compactMap { $0 as? [String: Any] }
    }

    static let workerCommand = ["worker", "--coordinator", "tcp://coordinator:5555", "--token-file"]
    static let coordinatorCommand = ["coordinator", "--config", "/etc/cohort/cluster.yaml", "--token-file"]
    /// Where compose and Kubernetes mount the job's token.
    static let composeToken = "/run/secrets/job-token"
    static let kubernetesToken = "/etc/cohort-token/token"

    @Test func composeRunsCoordinatorAndScalableWorkers() throws {
        let compose = try #require(try Self.documents("docker/compose.yaml").first)
        let services = try #require(compose["services"] as? [String: Any])
        let coordinator = try #require(services["coordinator"] as? [String: Any])
        let worker = try #require(services["worker"] as? [String: Any])
        #expect(coordinator["command"] as? [String] == Self.coordinatorCommand + [Self.composeToken])
        #expect(worker["command"] as? [String] == Self.workerCommand + [Self.composeToken])
        #expect(worker["container_name"] == nil && worker["ports"] == nil, "--scale worker=N needs no fixed names or host ports")
        #expect((coordinator["volumes"] as? [String])?.contains("./cluster.yaml:/etc/cohort/cluster.yaml:ro") == true)
        // The cluster file it mounts is valid and points workers at the coordinator service.
        let config = try ClusterConfig.load(path: TestFiles.repo("docker/cluster.yaml"))
        #expect(config.cluster.coordinator == CoordinatorAddress(host: "coordinator", port: 5555))
        #expect(config.cluster.interface == "*")
        // "*" only with a comment saying why (a container's own network namespace).
        #expect(try Self.text("docker/cluster.yaml").contains("network namespace"))
    }

    @Test func dockerfileBuildsStaticallyAndRunsSlim() throws {
        let lines = try Self.text("docker/Dockerfile").components(separatedBy: "\n")
        let stages = lines.filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.contains("swift:${SWIFT_VERSION}-bookworm AS build") == true)
        #expect(stages.last?.hasPrefix("FROM debian:bookworm-slim") == true)
        #expect(lines.contains { $0.contains("swift build -c release --product cohort --static-swift-stdlib") })
        #expect(lines.contains { $0.contains("libzmq3-dev") } && lines.contains { $0.contains("libzmq5") })
        #expect(lines.contains("ENTRYPOINT [\"cohort\"]"))
        // Every file the build copies exists.
        for line in lines where line.hasPrefix("COPY ") && !line.contains("--from") {
            for source in line.split(separator: " ").dropFirst().dropLast() {
                #expect(FileManager.default.fileExists(atPath: TestFiles.repo(String(source))), "\(line)")
            }
        }
    }

    @Test func kubernetesManifestsFitTogether() throws {
        var byKind: [String: [[String: Any]]] = [:]
        for file in ["configmap.yaml", "services.yaml", "coordinator.yaml", "workers.yaml"] {
            for doc in try Self.documents("docker/k8s/" + file) {
                let kind = try #require(doc["kind"] as? String, "\(file)")
                #expect(doc["apiVersion"] is String, "\(file)")
                #expect(((doc["metadata"] as? [String: Any])?["name"] as? String)?.isEmpty == false, "\(file)")
                byKind[kind, default: []].append(doc)
            }
        }
        func name(_ doc: [String: Any]) -> String? { (doc["metadata"] as? [String: Any])?["name"] as? String }
        func podSpec(_ job: [String: Any]) -> [String: Any]? {
            (((job["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"]) as? [String: Any]
        }
        func args(_ job: [String: Any]) -> [String]? {
            ((podSpec(job)?["containers"] as? [[String: Any]])?.first?["args"]) as? [String]
        }
        let services = byKind["Service"] ?? []
        #expect(services.count == 2)
        for service in services { #expect((service["spec"] as? [String: Any])?["clusterIP"] as? String == "None", "headless") }
        let coordinatorService = try #require(services.first { name($0) == "coordinator" })
        let ports = ((coordinatorService["spec"] as? [String: Any])?["ports"] as? [[String: Any]])?.compactMap {
            $0["port"] as? Int
        }
        #expect(ports == [5555])

        let jobs = byKind["Job"] ?? []
        let coordinator = try #require(jobs.first { name($0) == "cohort-coordinator" })
        let workers = try #require(jobs.first { name($0) == "cohort-worker" })
        #expect(args(coordinator) == Self.coordinatorCommand + [Self.kubernetesToken])
        #expect(args(workers) == Self.workerCommand + [Self.kubernetesToken])
        let workerSpec = try #require(workers["spec"] as? [String: Any])
        #expect(workerSpec["completionMode"] as? String == "Indexed")
        let count = try #require(workerSpec["completions"] as? Int)
        let subdomain = try #require(podSpec(workers)?["subdomain"] as? String)
        #expect(services.contains { name($0) == subdomain }, "worker pods resolve through a headless service")

        // The ConfigMap's cluster.yaml is valid and lists exactly the worker pods' DNS names.
        let configMap = try #require(byKind["ConfigMap"]?.first)
        let clusterText = try #require((configMap["data"] as? [String: Any])?["cluster.yaml"] as? String)
        let config = try ClusterConfig.parse(clusterText, file: "docker/k8s/configmap.yaml#cluster.yaml")
        #expect(config.hosts.map(\.address) == (0..<count).map { "cohort-worker-\($0).\(subdomain)" })
        #expect(config.totalWorkers == count)
        #expect(config.cluster.coordinator.endpoint == "tcp://coordinator:5555")
    }

    @Test(.timeLimit(.minutes(3))) func lintersAcceptTheDeployFiles() throws {
        let script = TestFiles.repo("scripts/check-deploy-files.sh")
        guard FileManager.default.fileExists(atPath: script), let bash = ProcessRunner.which("bash") else {
            try Test.cancel("scripts/check-deploy-files.sh or bash is missing")
        }
        let result = try ProcessRunner.run(bash, [script], timeout: 170)
        #expect(!result.timedOut, "check-deploy-files.sh took longer than 170 s")
        switch result.status {
        case 0:
            #expect(result.stdout.contains("ok "), "\(result.stdout)")
            if result.stdout.contains("skip ") { print("check-deploy-files: some checks skipped:\n\(result.stdout)") }
        case 3:
            try Test.cancel(
                "no linter could be installed (offline?): \(result.stdout.replacingOccurrences(of: "\n", with: "; "))")
        default:
            Issue.record("check-deploy-files.sh failed (\(result.status)):\n\(result.stdout)\(result.stderr)")
        }
    }
}
