import Config
import Foundation
import Runtime
import Training
import Transport

/// `output.http` for one coordinator: the run's state, its metrics and the server, fed through the coordinator's
/// observer hook. Created before the rendezvous, stopped when the command ends.
public final class StatusEndpoint: CoordinatorObserver, @unchecked Sendable {
    public let state: RunState
    public let metrics: RunMetrics
    public let server: StatusServer
    /// Where to point a browser: `http://HOST:PORT/` with `?token=…` when a token is needed.
    public let url: String

    private init(state: RunState, metrics: RunMetrics, server: StatusServer, url: String) {
        self.state = state
        self.metrics = metrics
        self.server = server
        self.url = url
    }

    /// Starts the endpoint when `output.http` is set (nil otherwise). The token is the job's (curve off), else
    /// `security.token_file`'s, else a fresh one for this endpoint; `public: true` asks for none.
    public static func start(config: ClusterConfig, coordinator: Coordinator) throws -> StatusEndpoint? {
        guard let http = config.output.http else { return nil }
        let token: String?
        if http.isPublic {
            token = nil
        } else if let jobToken = coordinator.security.token {
            token = jobToken.value
        } else if let file = config.cluster.security.tokenFile {
            token = try JobToken.load(file: file).value
        } else {
            token = JobToken.generate().value
        }
        let host = try bindHost(http, config)
        let metrics = RunMetrics()
        let state = RunState(config: config, workers: coordinator.workers, metrics: metrics)
        let server = try StatusServer.start(host: host, port: http.port, token: token, state: state, metrics: metrics)
        let shown =
            host == "0.0.0.0" || host == "::"
            ? server.address.replacingOccurrences(of: host, with: config.cluster.coordinator.host) : server.address
        let url =
            "http://\(shown)/"
            + (token.map { "?token=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? "")
        return StatusEndpoint(state: state, metrics: metrics, server: server, url: url)
    }

    /// `address`, else the coordinator's interface (when it is an address), else its host's address; `*` is all.
    static func bindHost(_ http: HTTPSpec, _ config: ClusterConfig) throws -> String {
        let wanted = http.address ?? config.cluster.interface
        if wanted == "*" { return "0.0.0.0" }
        if !wanted.isEmpty, HTTPSpec.isBindable(wanted) { return wanted }
        let resolved = try bindAddress(forHost: config.cluster.coordinator.host)
        if resolved == "*" { return "0.0.0.0" }
        return resolved.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    }

    public func stop() { server.stop() }

    public func membershipFormed(epoch: UInt32, members: [MemberInfo]) {
        state.membershipFormed(epoch: epoch, members: members)
    }
    public func rankReported(_ report: ProgressReport, dropped: [DropReason: Int]) {
        state.rankReported(report, dropped: dropped)
    }
    public func coordinatorEvent(_ event: CoordinatorEvent) { state.coordinatorEvent(event) }
    public func jobEnded(_ summary: JobSummary?, reason: String?) { state.jobEnded(summary, reason: reason) }
}
