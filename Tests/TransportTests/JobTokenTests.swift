import Foundation
import Synchronization
import Testing
import Transport

/// The job token's PLAIN handshake: only a client that presents the token reaches a token server; the others
/// are refused by the ZAP handler, which names their address.
@Suite struct JobTokenTests {
    final class Refusals: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
    }

    @Test func onlyTheTokenHolderIsAdmitted() throws {
        let token = JobToken.generate()
        let context = try Context(ioThreads: 1)
        let refusals = Refusals()
        let auth = try CurveAuthenticator(context: context, security: .token(token)) { address, why in
            refusals.lock.withLock { refusals.lines.append("\(address): \(why)") }
        }
        defer { auth.stop() }
        let server = try Socket(context, type: .pull, linger: .zero)
        try server.makeServer(.token(token))
        let endpoint = try server.bind("tcp://127.0.0.1:0")

        let clientContext = try Context(ioThreads: 1)
        let wrong = try Socket(clientContext, type: .push, linger: .zero)
        try wrong.makeTokenClient(try JobToken("not-the-token-of-this-job"))
        try wrong.connect(endpoint)
        try? wrong.send(Array("intruder".utf8), deadline: .after(seconds: 0.5))
        let none = try Socket(clientContext, type: .push, linger: .zero)
        try none.connect(endpoint)
        try? none.send(Array("stranger".utf8), deadline: .after(seconds: 0.5))
        #expect(throws: TransportError.self) { _ = try server.receive(deadline: .after(seconds: 1)) }

        let member = try Socket(clientContext, type: .push, linger: .zero)
        try member.makeClient(.token(token))
        try member.connect(endpoint)
        try member.send(Array("member".utf8), deadline: .after(seconds: 2))
        #expect(try server.receive(deadline: .after(seconds: 5)).text == "member")
        let lines = refusals.lock.withLock { refusals.lines }
        #expect(lines.contains { $0.contains("127.0.0.1") && $0.contains("job token") }, "\(lines)")
    }

    @Test func tokensAreCheckedAndNeverPrinted() throws {
        #expect(throws: TransportError.self) { try JobToken("short") }
        #expect(throws: TransportError.self) { try JobToken("has a space in the middle of it") }
        let t = JobToken.generate()
        #expect(t.value.count == 64 && t != JobToken.generate())
        #expect(!"\(t)".contains(t.value))
        #expect(t.matches(Array(t.value.utf8)) && !t.matches(Array(t.value.utf8.dropLast())))
    }
}
