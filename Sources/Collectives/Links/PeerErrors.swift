import Transport

/// The one place where a transport failure with a peer becomes a `CollectiveError` naming that peer by rank and
/// endpoint, so every link and algorithm reports a dead or silent peer in the same words.
extension Communicator {
    /// `peer` (a group rank) sent or took nothing before the deadline.
    func peerTimeout(operation: String, peer: Int) -> CollectiveError {
        .peerTimeout(operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer), seconds: options.timeout)
    }

    /// A transport failure while talking to `peer`: a timeout, a peer whose process exited or that closed its
    /// shared-memory link, or anything else the transport reports.
    func peerError(_ error: TransportError, operation: String, peer: Int) -> CollectiveError {
        // A wait ended by a new membership blames nobody.
        if let reason = plane.interruption(of: epoch) {
            return .aborted(operation: operation, me: rank, epoch: epoch, reason: reason)
        }
        switch error {
        case .timeout:
            return peerTimeout(operation: operation, peer: peer)
        case .peerExited(_, let pid):
            return .peerGone(
                operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer),
                detail: "its process (pid \(pid)) exited")
        case .closed:
            return .peerGone(
                operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer),
                detail: "it closed its shared-memory link (it failed or finished first)")
        default:
            return .transport(operation: operation, me: rank, peer: peer, endpoint: endpoint(of: peer), error: error)
        }
    }

    /// A new frame holding `count` floats from `source` encoded in `wire` (bf16/fp16), for `peer`.
    func encodedMessage(
        _ source: UnsafePointer<Float>, count: Int, wire: WirePrecision, peer: Int, operation: String
    ) throws(CollectiveError) -> Message {
        let m: Message
        do throws(TransportError) {
            m = try Message(size: count * wire.bytesPerElement)
        } catch {
            throw peerError(error, operation: operation, peer: peer)
        }
        m.withMutableBytes { bytes in
            if let out = bytes.baseAddress { ReduceKernels.encode(source, count: count, as: wire, into: out) }
        }
        return m
    }

    /// Sends a received frame on to `peer` as it is (a second libzmq reference to its data, no byte copy).
    func forwardFrame(
        _ frame: Message, to peer: Int, kind: WireHeader.Kind, dtype: WireHeader.DType, sequence: UInt64, chunk: Int,
        length: Int, operation: String, deadline: Deadline
    ) throws(CollectiveError) {
        let forward: Message
        do throws(TransportError) {
            forward = try frame.shared()
        } catch {
            throw peerError(error, operation: operation, peer: peer)
        }
        try sendFrame(
            to: peer, kind: kind, dtype: dtype, sequence: sequence, chunk: chunk, length: length,
            payload: .message(forward), operation: operation, deadline: deadline)
    }
}
