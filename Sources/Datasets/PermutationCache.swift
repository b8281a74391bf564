import Foundation

/// The last few epoch permutations this process computed, by (example count, seed). An elastic membership change
/// builds a new epoch driver on every survivor, which asked for the current epoch's permutation again: 60,000
/// examples took a quarter of a millisecond of the stall, every time. A joiner fills it ahead, while it prepares.
final class PermutationCache: @unchecked Sendable {
    static let shared = PermutationCache()
    /// Entries kept (the current epoch, the next, and those a joiner prepared ahead).
    static let capacity = 4

    private struct Key: Equatable {
        var count: Int
        var seed: UInt64
    }
    private let lock = NSLock()
    private var entries: [(key: Key, permutation: [Int])] = []

    func permutation(count: Int, seed: UInt64) -> [Int] {
        let key = Key(count: count, seed: seed)
        if let hit = lock.withLock({ entries.first { $0.key == key }?.permutation }) { return hit }
        let p = seededPermutation(count: count, seed: seed)
        lock.withLock {
            entries.removeAll { $0.key == key }
            entries.append((key, p))
            if entries.count > Self.capacity { entries.removeFirst(entries.count - Self.capacity) }
        }
        return p
    }
}
