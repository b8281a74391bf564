import CZeroMQ

/// Every failure the transport reports. Each case names the endpoint involved, so an operator reading one line
/// knows which peer or address to look at.
public enum TransportError: Error, CustomStringConvertible, Equatable {
    /// A libzmq call failed; `message` is zmq_strerror's text for `code`.
    case zmq(operation: String, endpoint: String, code: Int32, message: String)
    /// Nothing arrived (or could be queued) before the deadline.
    case timeout(operation: String, endpoint: String, seconds: Double)
    /// A received message does not fit the caller's buffer or the configured maximum.
    case messageTooLarge(endpoint: String, size: Int, limit: Int)
    /// A multipart message had an unexpected number of frames.
    case unexpectedFrames(endpoint: String, detail: String)
    /// The socket or context was already closed.
    case closed(endpoint: String)
    /// The peer process on the other end of a shared-memory ring no longer exists.
    case peerExited(endpoint: String, pid: Int32)
    /// A key or option value was malformed.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .zmq(let op, let ep, let code, let msg): return "\(op) on \(ep) failed: \(msg) (errno \(code))"
        case .timeout(let op, let ep, let s):
            return s > 0 ? "\(op) on \(ep) timed out after \(formatSeconds(s))" : "\(op) on \(ep) timed out (deadline passed)"
        case .messageTooLarge(let ep, let size, let limit):
            return "message of \(size) bytes from \(ep) exceeds the limit of \(limit) bytes"
        case .unexpectedFrames(let ep, let detail): return "unexpected frames on \(ep): \(detail)"
        case .closed(let ep): return "socket \(ep) is closed"
        case .peerExited(let ep, let pid): return "the peer process \(pid) behind \(ep) has exited"
        case .invalidArgument(let s): return s
        }
    }

    /// The error libzmq just reported for `operation` on `endpoint`.
    static func last(_ operation: String, _ endpoint: String) -> TransportError {
        let code = zmq_errno()
        return .zmq(operation: operation, endpoint: endpoint, code: code, message: String(cString: zmq_strerror(code)))
    }
}

func formatSeconds(_ s: Double) -> String {
    s < 1 ? "\(Int((s * 1000).rounded())) ms" : "\((s * 100).rounded() / 100) s"
}
