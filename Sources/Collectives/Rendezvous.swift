import Foundation
import Transport

/// The smallest control-plane exchange that builds a peer table: every rank binds its data plane (port 0 is
/// fine), tells a known ROUTER endpoint "I am rank r, reachable at E", and receives the full table back. The
/// coordinator does the same inside its richer protocol; benchmarks and process tests use this directly.
///
/// Messages (all frames UTF-8): hello = ["cohort-rendezvous/1", rank, endpoint]; reply = ["cohort-rendezvous/1",
/// endpoint of rank 0, endpoint of rank 1, …].
public enum Rendezvous {
    public static let protocolTag = "cohort-rendezvous/1"

    /// The coordinator side: a ROUTER socket that collects `size` hellos and answers each with the table.
    public final class Server: @unchecked Sendable {
        public let socket: Socket
        public let endpoint: String

        public init(bind: String = "tcp://127.0.0.1:0", context: Context) throws {
            socket = try Socket(context, type: .router, linger: .milliseconds(200))
            try socket.setMaxMessageSize(1 << 16)
            endpoint = try socket.bind(bind)
        }

        /// Waits for all ranks (at most until `deadline`) and sends them the table. Errors name the missing ranks.
        public func collect(size: Int, deadline: Deadline) throws -> [String] {
            var identities = [[UInt8]?](repeating: nil, count: size)
            var table = [String?](repeating: nil, count: size)
            while table.contains(where: { $0 == nil }) {
                let frames: [Message]
                do { frames = try socket.receiveMultipart(deadline: deadline, maxFrames: 8) } catch TransportError.timeout {
                    let missing = table.indices.filter { table[$0] == nil }
                    throw CollectiveError.invalidArgument("rendezvous on \(endpoint): ranks \(missing) did not register in time")
                }
                let text = frames.map(\.text)
                guard frames.count == 4, text[1] == protocolTag, let r = Int(text[2]), (0..<size).contains(r), table[r] == nil
                else {
                    continue  // not ours, or a duplicate: ignore rather than let a stray client break the group
                }
                identities[r] = frames[0].byteArray
                table[r] = text[3]
            }
            let full = table.map { $0! }
            for id in identities {
                try socket.sendMultipart([id!, Array(protocolTag.utf8)] + full.map { Array($0.utf8) }, deadline: deadline)
            }
            return full
        }
    }

    /// The worker side: registers `endpoint` as rank `rank` at `server` and returns the table.
    public static func join(server: String, rank: Int, endpoint: String, context: Context, deadline: Deadline) throws -> [String]
    {
        let s = try Socket(context, type: .dealer, linger: .milliseconds(200))
        try s.setMaxMessageSize(1 << 20)
        try s.connect(server)
        try s.sendMultipart([Array(protocolTag.utf8), Array(String(rank).utf8), Array(endpoint.utf8)], deadline: deadline)
        let frames: [Message]
        do { frames = try s.receiveMultipart(deadline: deadline, maxFrames: 4097) } catch TransportError.timeout {
            throw CollectiveError.invalidArgument("rank \(rank): no peer table from the rendezvous server \(server) in time")
        }
        guard frames.count >= 2, frames[0].text == protocolTag else {
            throw CollectiveError.invalidArgument("rank \(rank): malformed peer table from \(server)")
        }
        return frames.dropFirst().map(\.text)
    }
}
