import Foundation
import Testing
import Transport

/// `SocketMonitor`, which a worker uses to find a coordinator process that ended: its kernel closes the connection
/// at once, and one that stays closed past a grace is a peer gone; a peer that answers again clears it.
@Suite(.timeLimit(.minutes(3)))
struct SocketMonitorTests {
    /// Polls `monitor` until `done` holds of its answer, at most `seconds`.
    func waitFor(_ monitor: SocketMonitor, seconds: Double, _ done: (UInt64?) -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if done(monitor.poll()) { return true }
            usleep(5000)
        }
        return false
    }

    @Test func aClosedPeerIsGoneAfterTheGraceAndABoundAgainOneIsBack() throws {
        let ctx = try Context()
        var router: Socket? = try Socket(ctx, type: .router, linger: .zero)
        let endpoint = try router!.bind("tcp://127.0.0.1:0")
        let dealer = try Socket(ctx, type: .dealer, linger: .zero)
        let monitor = try SocketMonitor(watching: dealer)
        defer { monitor.close() }
        try dealer.connect(endpoint)
        try dealer.send([1], deadline: .after(seconds: 5))
        _ = try router!.receiveMultipart(deadline: .after(seconds: 5))
        #expect(monitor.poll() == nil, "a live peer")
        #expect(!monitor.gone(after: 0))

        router!.close()
        router = nil
        #expect(waitFor(monitor, seconds: 5) { $0 != nil }, "the closed connection was not seen")
        #expect(!monitor.gone(after: 2), "gone before its grace")
        usleep(300_000)
        #expect(monitor.gone(after: 0.2), "not gone after its grace")

        let again = try Socket(ctx, type: .router, linger: .zero)
        defer { again.close() }
        try again.bind(endpoint)
        #expect(waitFor(monitor, seconds: 5) { $0 == nil }, "the peer bound again was not seen")
        #expect(!monitor.gone(after: 0))
        dealer.close()  // the watched socket lives to here
    }
}
