import Foundation

/// Calls `handler` (on a dispatch queue, once per signal received) instead of letting SIGTERM or SIGINT kill the
/// process, so the work in progress can end itself cleanly; `cancel` restores the default actions.
final class SignalFlag: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let signals: [Int32]

    init(signals: [Int32], _ handler: @escaping @Sendable (Int32) -> Void) {
        self.signals = signals
        for sig in signals {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { handler(sig) }
            s.resume()
            sources.append(s)
        }
    }

    func cancel() {
        for s in sources { s.cancel() }
        for sig in signals { signal(sig, SIG_DFL) }
    }
}
