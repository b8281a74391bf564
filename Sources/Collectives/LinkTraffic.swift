import Foundation

/// The bytes this rank sent to each peer, by transport: counted where frames leave (header and payload), so a run
/// can say which links carried its gradients and how much, measured rather than computed from a formula.
public final class LinkTraffic: @unchecked Sendable {
    /// How a link carries its bytes.
    public enum Transport: String, Sendable, Codable {
        case socket
        case sharedMemory = "shm"
    }

    /// The bytes sent to one peer (a global rank) through one transport.
    public struct Link: Sendable, Equatable, Codable {
        public var peer: Int
        public var transport: Transport
        public var bytes: UInt64
    }

    private let lock = NSLock()
    private var counts: [Key: UInt64] = [:]

    private struct Key: Hashable {
        var peer: Int
        var transport: Transport
    }

    public init() {}

    func add(_ bytes: Int, to peer: Int, via transport: Transport) {
        lock.lock()
        counts[Key(peer: peer, transport: transport), default: 0] &+= UInt64(max(0, bytes))
        lock.unlock()
    }

    /// Every link that carried bytes, by peer then transport.
    public var links: [Link] {
        lock.lock()
        defer { lock.unlock() }
        return counts.map { Link(peer: $0.key.peer, transport: $0.key.transport, bytes: $0.value) }
            .sorted { ($0.peer, $0.transport.rawValue) < ($1.peer, $1.transport.rawValue) }
    }

    /// All bytes sent through `transport`.
    public func total(_ transport: Transport) -> UInt64 {
        links.filter { $0.transport == transport }.reduce(0) { $0 &+ $1.bytes }
    }
}
