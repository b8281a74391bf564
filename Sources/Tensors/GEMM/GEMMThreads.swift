import Foundation

/// Runs `body(0..<count)`: index 0 on the caller, the others on parked helper threads; returns when all are done.
/// Plain threads, not Swift concurrency: GEMM is called from synchronous training loops and must not depend on
/// (or block) a cooperative pool. Helpers are kept parked between calls because starting a thread costs tens of
/// microseconds, a visible share of a millisecond-sized product.
func runParallel(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    if count <= 1 {
        body(0)
        return
    }
    let helpers = GEMMHelperThread.take(count - 1)
    let done = DispatchSemaphore(value: 0)
    for (i, helper) in helpers.enumerated() {
        helper.start {
            body(i + 1)
            done.signal()
        }
    }
    body(0)
    for _ in helpers { done.wait() }
    GEMMHelperThread.giveBack(helpers)
}

/// One parked thread that runs one job at a time.
final class GEMMHelperThread: @unchecked Sendable {
    private let wake = DispatchSemaphore(value: 0)
    private var job: (@Sendable () -> Void)?

    private static let lock = NSLock()
    nonisolated(unsafe) private static var idle: [GEMMHelperThread] = []

    private init() {
        let thread = Thread { [self] in
            while true {
                wake.wait()
                // Clear before running: the job's last act lets the caller hand this helper to the next call,
                // whose `start` must not be overwritten here.
                let current = job
                job = nil
                current?()
            }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Hands over `job`; the semaphore orders the write of `job` before the helper reads it.
    func start(_ job: @escaping @Sendable () -> Void) {
        self.job = job
        wake.signal()
    }

    /// `count` idle helpers, started as needed (concurrent callers each get their own).
    static func take(_ count: Int) -> [GEMMHelperThread] {
        lock.lock()
        let reused = Array(idle.suffix(count))
        idle.removeLast(reused.count)
        lock.unlock()
        return reused + (0..<(count - reused.count)).map { _ in GEMMHelperThread() }
    }

    static func giveBack(_ helpers: [GEMMHelperThread]) {
        lock.lock()
        idle.append(contentsOf: helpers)
        lock.unlock()
    }
}
