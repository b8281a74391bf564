/// How a buffer of `count` elements splits into `parts` ring segments (balanced: sizes differ by at most one)
/// and each segment into `chunks` pieces. Every rank computes the same partition from the same inputs, so
/// empty pieces are skipped on both ends without telling anyone.
public struct RingPartition: Sendable {
    public let count: Int
    public let parts: Int
    public let chunks: Int

    /// - Parameter chunkElements: target elements per chunk; segments of at least two minimal chunks are split
    ///   into ≥ 2 chunks so that sending one overlaps reducing the other.
    public init(count: Int, parts: Int, chunkElements: Int) {
        self.count = count
        self.parts = parts
        let longest = (count + parts - 1) / parts
        let minimum = 4096  // 16 KiB of fp32: below this a frame's fixed cost dominates
        var c = (longest + max(1, chunkElements) - 1) / max(1, chunkElements)
        if c < 2 && longest >= 2 * minimum { c = 2 }
        chunks = max(1, c)
    }

    /// Element range of segment `i` (0..<parts).
    public func segment(_ i: Int) -> Range<Int> {
        (i * count / parts)..<((i + 1) * count / parts)
    }

    /// Element range of chunk `c` of segment `i`.
    public func chunk(_ i: Int, _ c: Int) -> Range<Int> {
        let s = segment(i)
        let n = s.count
        return (s.lowerBound + c * n / chunks)..<(s.lowerBound + (c + 1) * n / chunks)
    }
}

@inline(__always)
func mod(_ a: Int, _ n: Int) -> Int { ((a % n) + n) % n }
