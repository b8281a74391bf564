import Config
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The coordinator's HTTP endpoint (`output.http`): `/metrics` (Prometheus text), `/api/status` (JSON) and `/`
/// (the live page). It runs on its own event loop threads (SwiftNIO through Hummingbird) and only reads `RunState`
/// copies, so neither a slow nor a malformed client can stall the coordinator's thread, let alone a worker.
/// Open connections are capped and idle ones closed, so a client that never finishes its request holds one
/// connection, not the server.
public final class StatusServer: @unchecked Sendable {
    /// Connections open at once; more wait in the backlog.
    static let maximumConnections = 64
    /// A connection that sends nothing for this long is closed.
    static let idleTimeout = TimeAmount.seconds(10)

    /// The bound `host:port` (the port chosen when the configuration asked for 0).
    public let address: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(address: String, group: ServiceGroup, task: Task<Void, any Error>) {
        self.address = address
        self.group = group
        self.task = task
    }

    /// Binds `host:port` and serves until `stop()`. Throws a one-line error when the address can't be bound
    /// (in use, not this machine's), within a few seconds.
    public static func start(host: String, port: Int, token: String?, state: RunState, metrics: RunMetrics) throws
        -> StatusServer
    {
        var logger = Logger(label: "cohort.http")
        logger.logLevel = .critical
        let bound = BoundAddress()
        let app = Application(
            router: routes(token: token, state: state, metrics: metrics),
            server: .http1(configuration: .init(idleTimeout: idleTimeout)),
            configuration: .init(
                address: .hostname(host, port: port), serverName: nil,
                availableConnectionsDelegate: MaximumAvailableConnections(maximumConnections, logger: logger)),
            onServerRunning: { channel in bound.set(.success(channel.localAddress?.port ?? port)) },
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [], logger: logger))
        let task = Task.detached(executorPreference: ServerExecutor()) {
            do {
                try await group.run()
            } catch {
                bound.set(.failure(error))
                throw error
            }
        }
        switch bound.wait(seconds: 10) {
        case .success(let actual)?:
            return StatusServer(address: "\(host.contains(":") ? "[\(host)]" : host):\(actual)", group: group, task: task)
        case .failure(let error)?:
            throw ConfigError(
                file: "cluster.yaml", line: nil, keyPath: "output.http",
                message: "cannot serve on \(host):\(port): \(error)")
        case nil:
            task.cancel()
            throw ConfigError(
                file: "cluster.yaml", line: nil, keyPath: "output.http", message: "\(host):\(port) did not bind within 10 s")
        }
    }

    /// Closes the listener and its connections (at most about 2 s; a client mid-request is cut off).
    public func stop() {
        let done = DispatchSemaphore(value: 0)
        let (group, task) = (group, task)
        Task.detached {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            done.signal()
        }
        if done.wait(timeout: .now() + 2) == .timedOut { task.cancel() }
    }

    static func routes(token: String?, state: RunState, metrics: RunMetrics) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: TokenAccess(token: token))
        router.get("/metrics") { _, _ in
            text(metrics.render(), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/api/status") { _, _ in
            text(statusJSON(state.document()), type: "application/json")
        }
        router.get("/") { _, _ in
            text(StatusPage.html, type: "text/html; charset=utf-8")
        }
        return router
    }

    static func text(_ body: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// JSON with non-finite numbers (a diverged loss) as strings, which JSON can't hold as numbers.
    static func statusJSON(_ document: StatusDocument) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        guard let data = try? encoder.encode(document) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The port the listener got, or why it failed: set once from the server's task, awaited by `start`.
private final class BoundAddress: @unchecked Sendable {
    private let lock = NSLock()
    private let ready = DispatchSemaphore(value: 0)
    private var result: Result<Int, any Error>?

    func set(_ r: Result<Int, any Error>) {
        let first = lock.withLock {
            guard result == nil else { return false }
            result = r
            return true
        }
        if first { ready.signal() }
    }

    func wait(seconds: Double) -> Result<Int, any Error>? {
        _ = ready.wait(timeout: .now() + seconds)
        return lock.withLock { result }
    }
}
