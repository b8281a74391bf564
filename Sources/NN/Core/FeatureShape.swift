/// The shape (channels, height, width) of one example inside a row of a [batch, features] batch, stored NCHW:
/// feature index = (c·H + h)·W + w. A flat feature vector of n is (n, 1, 1).
///
/// Why NCHW inside each row: it is PyTorch's default layout, so a flattened feature map feeds a Dense layer (and an
/// exported checkpoint) in the same order as `torch.flatten`; and with im2col the channel-major layout makes every
/// row of the column matrix a contiguous run per input channel, so a group of channels is a contiguous block of
/// rows (groups, depthwise) and the GEMM output [out channels, positions] is already channel-major.
public struct FeatureShape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// A flat feature vector of `features`: (features, 1, 1).
    public init(flat features: Int) { self.init(channels: features, height: 1, width: 1) }

    /// C·H·W: the row width.
    public var count: Int { channels * height * width }
    /// H·W: positions per channel.
    public var positions: Int { height * width }

    public var description: String { "\(channels)×\(height)×\(width)" }
}

/// The output length of a sliding window over `input` positions (PyTorch's floor formula), or nil when the window
/// does not fit even once or a setting is out of range.
public func slidingOutputSize(input: Int, kernel: Int, stride: Int, padding: Int) -> Int? {
    guard input >= 1, kernel >= 1, stride >= 1, padding >= 0 else { return nil }
    let span = input + 2 * padding - kernel
    guard span >= 0 else { return nil }
    return span / stride + 1
}
