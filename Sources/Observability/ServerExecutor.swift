import Dispatch

/// The status server's own thread: a task executor over a serial dispatch queue (which always gets a thread of
/// its own), preferred by the server's task and inherited by its connection tasks. Swift's cooperative pool is as
/// wide as the machine has cores; whoever blocks its threads (a test that waits synchronously, a library) would
/// otherwise leave the endpoint unable to answer. One thread is plenty for a status page.
final class ServerExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "cohort.http")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
