import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Whole-file writes that a crash can never leave half done: the bytes go to a temporary file in the same
/// directory, which is fsync'ed, renamed over the target (atomic on POSIX file systems) and the directory fsync'ed
/// so the rename itself survives a power cut. A reader sees the old file or the new one, never a mix.
public enum AtomicFile {
    /// Temporary files start with this, so a later cleanup can find the leftovers of a killed writer.
    public static let temporaryPrefix = ".cohort-tmp-"

    public static func write(_ data: Data, to path: String) throws(CheckpointError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary =
            directory + "/" + temporaryPrefix + url.lastPathComponent + "-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .posix(temporary, "cannot create a temporary file") }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        do throws(CheckpointError) {
            try writeAll(fd, data, path: temporary)
            guard fsync(fd) == 0 else { throw CheckpointError.posix(temporary, "fsync failed") }
            closed = true
            guard close(fd) == 0 else { throw CheckpointError.posix(temporary, "close failed") }
            guard rename(temporary, path) == 0 else { throw CheckpointError.posix(path, "cannot rename \(temporary) into place") }
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Makes renames and deletions in `directory` durable.
    public static func syncDirectory(_ directory: String) throws(CheckpointError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .posix(directory, "cannot open the directory") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .posix(directory, "fsync of the directory failed") }
    }

    private static func writeAll(_ fd: Int32, _ data: Data, path: String) throws(CheckpointError) {
        let failure: CheckpointError? = data.withUnsafeBytes { raw -> CheckpointError? in
            var offset = 0
            while offset < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return .posix(path, "write failed")
                }
                offset += n
            }
            return nil
        }
        if let failure { throw failure }
    }
}

/// `write(2)`, under a name that the static `AtomicFile.write` does not shadow.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
        return Musl.write(fd, buffer, count)
    #else
        return Darwin.write(fd, buffer, count)
    #endif
}
