import CZeroMQ
import Foundation
import Synchronization

/// A ZAP handler (ZeroMQ RFC 27) for one context: admits CURVE clients whose public key is one of `allowedKeys`
/// and refuses the rest. Without it libzmq accepts any client that knows the server's public key. Runs on its own
/// thread; `stop()` (or deinit) ends it within ~50 ms.
public final class CurveAuthenticator: @unchecked Sendable {
    static let domain = "cohort"
    private let socket: Socket
    private let allowed: Set<[UInt8]>
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// Installs the handler on `context`. `allowedKeys` are Z85 public keys (for a cluster: just its public key).
    public init(context: Context, allowedKeys: [String]) throws {
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
            let requestID = frames[1].byteArray
            let mechanism = frames[5].text
            var ok = false
            if mechanism == "CURVE", frames.count >= 7 { ok = allowed.contains(frames[6].byteArray) }
            let reply: [[UInt8]] = [
                Array("1.0".utf8), requestID, Array((ok ? "200" : "400").utf8),
                Array((ok ? "OK" : "client key is not the cluster key").utf8), [], [],
            ]
            try? socket.sendMultipart(reply, deadline: .after(seconds: 1))
        }
    }
}
