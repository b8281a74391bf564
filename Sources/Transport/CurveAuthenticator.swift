import CZeroMQ
import Foundation
import Synchronization

/// A ZAP handler (ZeroMQ RFC 27) for one context: admits CURVE clients whose public key is one of `allowedKeys`,
/// or PLAIN clients that present the job token, and refuses the rest. Without it libzmq accepts any CURVE client
/// that knows the server's public key, and any PLAIN client at all. Runs on its own thread; `stop()` (or deinit)
/// ends it within ~50 ms. Installing it fails when another handler holds the context's ZAP endpoint, and the
/// caller must then stop rather than run unauthenticated.
public final class CurveAuthenticator: @unchecked Sendable {
    static let domain = "cohort"
    private let socket: Socket
    private let allowed: Set<[UInt8]>
    private let token: JobToken?
    private let onRefusal: @Sendable (_ address: String, _ why: String) -> Void
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// Installs a handler that admits PLAIN clients presenting `token`; `onRefusal` hears each refused peer's
    /// address (from the handler's thread).
    public convenience init(
        context: Context, token: JobToken, onRefusal: @escaping @Sendable (_ address: String, _ why: String) -> Void = { _, _ in }
    ) throws {
        try self.init(context: context, allowedKeys: [], token: token, onRefusal: onRefusal)
    }

    /// Installs the handler on `context`. `allowedKeys` are Z85 public keys (for a cluster: just its public key).
    public init(
        context: Context, allowedKeys: [String], token: JobToken? = nil,
        onRefusal: @escaping @Sendable (_ address: String, _ why: String) -> Void = { _, _ in }
    ) throws {
        self.token = token
        self.onRefusal = onRefusal
        var keys = Set<[UInt8]>()
        for k in allowedKeys {
            guard CurveKeyPair.isValidZ85Key(k) else {
                throw TransportError.invalidArgument("CURVE allowed key is not 40 Z85 characters")
            }
            var raw = [UInt8](repeating: 0, count: 32)
            guard zmq_z85_decode(&raw, k) != nil else {
                throw TransportError.invalidArgument("CURVE allowed key is not valid Z85")
            }
            keys.insert(raw)
        }
        allowed = keys
        socket = try Socket(context, type: .rep, linger: .zero)
        try socket.bind("inproc://zeromq.zap.01")
        let t = Thread { [self] in self.serve() }
        t.name = "cohort-zap"
        thread = t
        t.start()
    }

    deinit { stop() }

    public func stop() {
        if stopping.exchange(true, ordering: .acquiringAndReleasing) { return }
        if thread != nil { finished.wait() }
    }

    private func serve() {
        defer {
            socket.close()
            finished.signal()
        }
        while !stopping.load(ordering: .acquiring) {
            guard let frames = try? socket.receiveMultipart(deadline: .after(seconds: 0.05)) else { continue }
            // version, request id, domain, address, routing id, mechanism, credentials…
            guard frames.count >= 6 else { continue }
            let refusal = verdict(frames)
            if let refusal { onRefusal(frames[3].text, refusal) }
            let reply: [[UInt8]] = [
                Array("1.0".utf8), frames[1].byteArray, Array((refusal == nil ? "200" : "400").utf8),
                Array((refusal ?? "OK").utf8), [], [],
            ]
            try? socket.sendMultipart(reply, deadline: .after(seconds: 1))
        }
    }

    /// nil to admit the request, else why it is refused. Frames: version, request id, domain, address, routing
    /// id, mechanism, then the mechanism's credentials (CURVE: the client key; PLAIN: user name, password).
    private func verdict(_ frames: [Message]) -> String? {
        switch frames[5].text {
        case "CURVE":
            guard frames.count >= 7, allowed.contains(frames[6].byteArray) else { return "client key is not the cluster key" }
            return nil
        case "PLAIN":
            guard let token, frames.count >= 8, token.matches(frames[7].byteArray) else { return "wrong or missing job token" }
            return nil
        default:
            return "mechanism \(frames[5].text) is not admitted"
        }
    }
}
