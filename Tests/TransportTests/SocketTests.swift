import Foundation
import Testing
import Transport

@Suite(.timeLimit(.minutes(3)))
struct SocketTests {
    @Test(arguments: [
        "tcp://127.0.0.1:0", "ipc:///tmp/cohort-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).ipc",
        "inproc://socket-test",
    ])
    func multipartRoundTripOverEveryTransport(endpoint: String) throws {
        let ctx = try Context()
        let pull = try Socket(ctx, type: .pull)
        let bound = try pull.bind(endpoint)
        if endpoint.hasPrefix("tcp") {
            #expect(bound.hasPrefix("tcp://127.0.0.1:") && !bound.hasSuffix(":0"), "bound \(bound)")
        }
        let push = try Socket(ctx, type: .push)
        try push.connect(bound)
        try push.sendMultipart([[1, 2, 3], [], Array(repeating: 7, count: 100_000)], deadline: .after(seconds: 5))
        let frames = try pull.receiveMultipart(deadline: .after(seconds: 5))
        #expect(frames.map(\.count) == [3, 0, 100_000])
        #expect(frames[0].byteArray == [1, 2, 3])
        #expect(frames[2].withBytes { $0.allSatisfy { $0 == 7 } })
        if endpoint.hasPrefix("ipc://") { unlink(String(endpoint.dropFirst(6))) }
    }

    @Test func receiveHonoursItsDeadlineAndNamesTheEndpoint() throws {
        let ctx = try Context()
        let pull = try Socket(ctx, type: .pull)
        let ep = try pull.bind("tcp://127.0.0.1:0")
        let start = Date()
        #expect {
            _ = try pull.receive(deadline: .after(seconds: 0.2))
        } throws: { e in
            guard case TransportError.timeout(_, let where_, _) = e else { return false }
            return where_ == ep
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.19 && elapsed < 1.5)
    }

    @Test func receiveIntoCallerBufferRefusesOversizedFrames() throws {
        let ctx = try Context()
        let pull = try Socket(ctx, type: .pull)
        let ep = try pull.bind("inproc://into")
        let push = try Socket(ctx, type: .push)
        try push.connect(ep)
        try push.send([1, 2, 3, 4, 5, 6, 7, 8])
        try push.send([9, 9])
        var small = [UInt8](repeating: 0, count: 4)
        #expect(throws: TransportError.messageTooLarge(endpoint: ep, size: 8, limit: 4)) {
            try small.withUnsafeMutableBytes { _ = try pull.receive(into: $0, deadline: .after(seconds: 2)) }
        }
        let n = try small.withUnsafeMutableBytes { try pull.receive(into: $0, deadline: .after(seconds: 2)) }
        #expect(n == 2 && small[0] == 9 && small[1] == 9)
    }

    @Test func zeroCopySendReleasesTheBufferOnlyAfterDelivery() throws {
        let ctx = try Context()
        let pull = try Socket(ctx, type: .pull)
        let ep = try pull.bind("tcp://127.0.0.1:0")
        let push = try Socket(ctx, type: .push)
        try push.connect(ep)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xAB)
        let release = ZeroCopyRelease()
        for _ in 0..<3 { try push.sendNoCopy(UnsafeRawBufferPointer(buffer), release: release) }
        #expect(release.pending > 0)
        for _ in 0..<3 {
            let m = try pull.receive(deadline: .after(seconds: 5))
            #expect(m.count == 4 << 20 && m.withBytes { $0[12345] } == 0xAB)
        }
        #expect(release.waitUntilReleased(deadline: .after(seconds: 5)))
        #expect(release.pending == 0)
    }

    @Test func socketsKeepTheirContextAliveAndCloseWithoutHanging() throws {
        var push: Socket? = nil
        do {
            let ctx = try Context()
            push = try Socket(ctx, type: .push, linger: .milliseconds(50))
            try push!.connect("tcp://127.0.0.1:1")  // nobody there: the queued message must not block shutdown
        }
        try push!.send([1, 2, 3])
        push = nil  // closes the socket, then terminates the context: returns after the linger
    }

    @Test func bindErrorsNameTheEndpointAndErrnoText() throws {
        let ctx = try Context()
        let a = try Socket(ctx, type: .pull)
        let ep = try a.bind("tcp://127.0.0.1:0")
        let b = try Socket(ctx, type: .pull)
        #expect {
            try b.bind(ep)
        } throws: { e in
            "\(e)".contains(ep) && "\(e)".lowercased().contains("address already in use")
        }
        #expect(throws: TransportError.self) { try b.connect("nonsense://x") }
    }
}

@Suite(.timeLimit(.minutes(3)))
struct CurveTests {
    @Test func keyPairsAreZ85AndDerivable() throws {
        let pair = try CurveKeyPair.generate()
        #expect(CurveKeyPair.isValidZ85Key(pair.publicKey) && CurveKeyPair.isValidZ85Key(pair.secretKey))
        #expect(try CurveKeyPair.publicKey(fromSecret: pair.secretKey) == pair.publicKey)
        #expect(try CurveKeyPair.generate() != pair)
        #expect(throws: TransportError.self) { try CurveKeyPair(publicKey: "short", secretKey: pair.secretKey) }
    }

    @Test func onlyHoldersOfTheClusterKeyGetThrough() throws {
        let cluster = CurveSecurity(cluster: try CurveKeyPair.generate())
        let ctx = try Context()
        let auth = try CurveAuthenticator(context: ctx, allowedKeys: [cluster.cluster.publicKey])
        defer { auth.stop() }
        let server = try Socket(ctx, type: .pull)
        try server.makeCurveServer(cluster)
        let ep = try server.bind("tcp://127.0.0.1:0")

        // A member: same cluster key pair.
        let member = try Socket(ctx, type: .push, linger: .zero)
        try member.makeCurveClient(cluster)
        try member.connect(ep)
        try member.send([42])
        let got = try server.receive(deadline: .after(seconds: 5))
        #expect(got.byteArray == [42])

        // An outsider that knows the server's public key but holds a different key pair: refused by ZAP.
        let other = try CurveKeyPair.generate()
        let outsider = try Socket(ctx, type: .push, linger: .zero)
        try outsider.setOption(50 /* ZMQ_CURVE_SERVERKEY */, string: cluster.cluster.publicKey)
        try outsider.setOption(48 /* ZMQ_CURVE_PUBLICKEY */, string: other.publicKey)
        try outsider.setOption(49 /* ZMQ_CURVE_SECRETKEY */, string: other.secretKey)
        try outsider.connect(ep)
        try outsider.send([66])
        #expect(throws: TransportError.self) { _ = try server.receive(deadline: .after(seconds: 0.5)) }

        // A plaintext peer: refused too.
        let plain = try Socket(ctx, type: .push, linger: .zero)
        try plain.connect(ep)
        try plain.send([77])
        #expect(throws: TransportError.self) { _ = try server.receive(deadline: .after(seconds: 0.5)) }
    }
}
