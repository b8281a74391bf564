import Foundation

/// Runs `body(0..<count)` with one plain thread per index beyond the first, which runs on the caller; returns
/// when all are done. Plain threads, not Swift concurrency: GEMM is called from synchronous training loops and
/// must not depend on (or block) a cooperative pool.
func runParallel(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    if count <= 1 {
        body(0)
        return
    }
    let done = DispatchSemaphore(value: 0)
    for t in 1..<count {
        let thread = Thread {
            body(t)
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    body(0)
    for _ in 1..<count { done.wait() }
}
