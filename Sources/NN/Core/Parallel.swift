import Foundation

/// Runs `body(0..<count)` on `count` threads (the caller runs index 0) and waits for all. Plain threads, not
/// Swift concurrency: training loops are synchronous and must not block a cooperative pool.
func parallelFor(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
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

/// Carries a non-Sendable reference into `parallelFor` when the threads touch disjoint memory only.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
